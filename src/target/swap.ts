import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describeCause, isErrno, TerrariumError } from '../errors.js';
import { failpoint } from '../io/failpoint.js';
import { pathKind, removeTreesLater, siblingPath, writeFileAtomic } from '../io/fs.js';
import type { ReportEvent } from '../report/events.js';
import { type Exchanger, startExchanger } from './exchange.js';
import { type Journal, namesOf, parseJournal, planInstallSwap, planRevert, type Step, type SwapPlan, stepsDone, undoSteps } from './swap-plan.js';

export interface Swap {
  /** The point of no return: drops the journal; what the swap set aside is removed in the background. */
  commit(): Promise<void>;
}

export async function isEnvironment(dir: string): Promise<boolean> {
  return (await pathKind(path.join(dir, 'pyvenv.cfg'))) === 'file';
}

/**
 * Refuses targets whose replacement would lose something that is not an environment; returns whether
 * there is something to replace.
 */
export async function checkTarget(target: string, force: boolean): Promise<boolean> {
  const kind = await pathKind(target);
  if (kind === 'missing') return false;
  if (kind !== 'directory') {
    throw new TerrariumError('TARGET_IS_FILE', `target ${target} exists and is not a directory`, {
      hint: 'choose another --target, or remove that file',
    });
  }
  if (force || (await isEnvironment(target)) || (await fs.readdir(target)).length === 0) return true;
  throw new TerrariumError('TARGET_NOT_ENV', `target ${target} is a directory with files but not a Python environment`, {
    hint: 'choose another --target, or pass --force to replace it (it is kept as the backup unless --no-backup)',
  });
}

/** The journal of a swap in progress: present exactly while the target may be in between. */
export function journalPath(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.swap.json`);
}

const exists = async (p: string) => (await pathKind(p)) !== 'missing';
const asideOf = (dir: string) => (name: string) => path.basename(siblingPath(path.join(dir, name), 'trash'));

class ExchangeUnsupported extends Error {}

type Exchange = (a: string, b: string) => Promise<boolean>;

/** Exchanges through `prepared` (a helper started ahead) first, then through helpers started on demand. */
function exchangeWith(python: string, prepared?: Exchanger): Exchange {
  let next = prepared;
  return (a, b) => {
    const helper = next ?? startExchanger(python);
    next = undefined;
    return helper.exchange(a, b);
  };
}

/**
 * Puts `staging` at `target`; the old target becomes `backup` (an older backup is dropped) or, without
 * a backup, is set aside until commit. Where the system can exchange two paths atomically, the target
 * is never absent; every step is recorded in a journal first, so that if the process dies part-way,
 * the next run puts the old environment back (recoverInterruptedSwap). `python` runs the exchange,
 * through `prepared` when given (which is closed in any case).
 */
export async function swapIn(
  staging: string,
  target: string,
  backup: string | undefined,
  python: string,
  prepared?: Exchanger,
  fence: Fence = async () => undefined,
): Promise<Swap> {
  const dir = path.dirname(target);
  const input = {
    staging: path.basename(staging),
    target: path.basename(target),
    backup: backup === undefined ? undefined : path.basename(backup),
    targetExists: await exists(target),
    backupExists: backup !== undefined && (await exists(backup)),
    aside: asideOf(dir),
  };
  let journal: Journal;
  try {
    journal = await runWithFallback(dir, target, python, exchangeWith(python, prepared), (exchange) => planInstallSwap({ ...input, exchange }), fence);
  } finally {
    await prepared?.close();
  }
  return {
    commit: async () => {
      await fs.rm(journalPath(target));
      failpoint('swap-committed');
      await removeTreesLater(journal.discard.map((name) => path.join(dir, name)));
    },
  };
}

/** Exchanges target and backup, so that a second revert undoes the first. */
export async function revertTarget(target: string, backup: string, python: string): Promise<void> {
  if ((await pathKind(backup)) !== 'directory') {
    throw new TerrariumError('NO_BACKUP', `no backup to revert to: ${backup} does not exist`, {
      hint: 'a backup is made when install replaces an environment (unless --no-backup)',
    });
  }
  const dir = path.dirname(target);
  const targetExists = await exists(target);
  await runWithFallback(dir, target, python, exchangeWith(python), (exchange) =>
    planRevert(path.basename(target), path.basename(backup), targetExists, exchange, asideOf(dir)),
  );
  await fs.rm(journalPath(target));
}

/** Throws when this run may no longer change the target (its lock was taken over). */
type Fence = () => Promise<void>;

async function runWithFallback(
  dir: string,
  target: string,
  python: string,
  exchange: Exchange,
  plan: (exchange: boolean) => SwapPlan,
  fence?: Fence,
): Promise<Journal> {
  try {
    return await runPlan(dir, target, plan(true), python, exchange, fence);
  } catch (error) {
    if (!(error instanceof ExchangeUnsupported)) throw error;
    return runPlan(dir, target, plan(false), python, exchange, fence);
  }
}

/**
 * `python` is recorded in the journal, for a later run to undo an exchange with. `fence` is asked
 * before the journal is written and before every step: a run whose lock was taken over stops there
 * (undoing its own steps), and never changes a target another run now owns.
 */
async function runPlan(
  dir: string,
  target: string,
  plan: SwapPlan,
  python: string,
  exchange: Exchange,
  fence: Fence = async () => undefined,
): Promise<Journal> {
  await fence();
  const before: Record<string, string> = {};
  for (const name of namesOf(plan)) {
    const id = await identity(path.join(dir, name));
    if (id) before[name] = id;
  }
  const journal: Journal = { ...plan, before, python };
  try {
    await writeFileAtomic(journalPath(target), `${JSON.stringify(journal, null, 2)}\n`);
  } catch (error) {
    throw unwritable(target, error);
  }
  failpoint(`${plan.operation}-journal`);
  let done = 0;
  try {
    for (const step of plan.steps) {
      await fence();
      await applySteps(dir, [step], exchange);
      done += 1;
      failpoint(`${plan.operation}-step-${done}`);
    }
  } catch (error) {
    await applySteps(dir, undoSteps(plan, done), exchange);
    await fs.rm(journalPath(target), { force: true });
    throw error instanceof ExchangeUnsupported || error instanceof TerrariumError ? error : unwritable(target, error);
  }
  return journal;
}

async function applySteps(dir: string, steps: Step[], exchange: Exchange): Promise<void> {
  for (const step of steps) {
    if (step.op === 'rename') await fs.rename(path.join(dir, step.from), path.join(dir, step.to));
    else if (!(await exchange(path.join(dir, step.a), path.join(dir, step.b)))) throw new ExchangeUnsupported();
  }
}

/** Device and inode: what a name holds, unchanged by renames and exchanges. */
async function identity(p: string): Promise<string | undefined> {
  try {
    const stat = await fs.lstat(p, { bigint: true });
    return `${stat.dev}:${stat.ino}`;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
}

function unwritable(target: string, error: unknown): TerrariumError {
  return new TerrariumError('TARGET_UNWRITABLE', `cannot swap environments at ${target}: ${describeCause(error)}`, {
    hint: `check the permissions and free space of ${path.dirname(target)}`,
  });
}

type SwapRecovered = Extract<ReportEvent, { code: 'SWAP_RECOVERED' }>;

/**
 * Finishes what a killed install or revert left: if its journal is still there, the swap was never
 * committed, so the steps it took are undone and the target is the old environment again. Returns
 * what was done, for the report, or undefined when there was nothing to recover.
 */
export async function recoverInterruptedSwap(target: string): Promise<SwapRecovered | undefined> {
  const file = journalPath(target);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw unrecoverable(file, describeCause(error));
  }
  const journal = parseJournal(text);
  if (!journal) throw unrecoverable(file, 'the journal is not one this terrarium wrote');
  const dir = path.dirname(target);
  const now = new Map<string, string>();
  for (const name of namesOf(journal)) {
    const id = await identity(path.join(dir, name));
    if (id) now.set(name, id);
  }
  const done = stepsDone(journal, now);
  if (done === undefined) throw unrecoverable(file, 'the directory no longer matches it');
  try {
    await applySteps(dir, undoSteps(journal, done), exchangeWith(journal.python));
    await fs.rm(file);
  } catch (error) {
    throw unrecoverable(file, error instanceof ExchangeUnsupported ? `${journal.python} can no longer exchange paths` : describeCause(error));
  }
  return { code: 'SWAP_RECOVERED', target, operation: journal.operation, done, steps: journal.steps.length };
}

function unrecoverable(journal: string, why: string): TerrariumError {
  return new TerrariumError('TARGET_UNRECOVERABLE', `cannot undo the interrupted swap recorded in ${journal}: ${why}`, {
    hint: 'look at the directories it names, keep the environment you want under the target name, then delete the journal',
  });
}
