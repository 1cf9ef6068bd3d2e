import { promises as fs } from 'node:fs';
import path from 'node:path';
import { TerrariumError, describeCause, isErrno } from '../errors.js';
import { failpoint } from '../io/failpoint.js';
import { pathKind, removeTree, siblingPath, writeFileAtomic } from '../io/fs.js';
import { parseSwapPlan, planInstallSwap, planRevert, renamesDone, undoRenames, type SwapPlan } from './swap-plan.js';

export interface Swap {
  /** The point of no return: drops the journal, then what the swap set aside. */
  commit(): Promise<void>;
  /** Puts everything back as it was (when the new environment fails its check in place). */
  rollback(): Promise<void>;
}

export async function isEnvironment(dir: string): Promise<boolean> {
  return (await pathKind(path.join(dir, 'pyvenv.cfg'))) === 'file';
}

/** Refuses targets whose replacement would lose something that is not an environment. */
export async function checkTarget(target: string, force: boolean): Promise<void> {
  const kind = await pathKind(target);
  if (kind === 'missing') return;
  if (kind !== 'directory') {
    throw new TerrariumError('TARGET_IS_FILE', `target ${target} exists and is not a directory`, {
      hint: 'choose another --target, or remove that file',
    });
  }
  if (force || (await isEnvironment(target)) || (await fs.readdir(target)).length === 0) return;
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

/**
 * Moves `staging` to `target`, the old target to `backup` (an older backup is dropped) or, without a
 * backup, aside until commit. Every step is a rename within one directory, recorded in a journal first:
 * if the process dies part-way, the next run puts the old environment back (recoverInterruptedSwap).
 */
export async function swapIn(staging: string, target: string, backup: string | undefined): Promise<Swap> {
  const dir = path.dirname(target);
  const plan = planInstallSwap({
    staging: path.basename(staging),
    target: path.basename(target),
    backup: backup === undefined ? undefined : path.basename(backup),
    targetExists: await exists(target),
    backupExists: backup !== undefined && (await exists(backup)),
    aside: asideOf(dir),
  });
  await runPlan(dir, target, plan);
  return {
    commit: async () => {
      await fs.rm(journalPath(target));
      failpoint('swap-committed');
      for (const name of plan.discard) await removeTree(path.join(dir, name));
    },
    rollback: async () => {
      await applyRenames(dir, undoRenames(plan, plan.renames.length));
      await fs.rm(journalPath(target));
    },
  };
}

/** Exchanges target and backup, so that a second revert undoes the first. */
export async function revertTarget(target: string, backup: string): Promise<void> {
  if ((await pathKind(backup)) !== 'directory') {
    throw new TerrariumError('NO_BACKUP', `no backup to revert to: ${backup} does not exist`, {
      hint: 'a backup is made when install replaces an environment (unless --no-backup)',
    });
  }
  const dir = path.dirname(target);
  const plan = planRevert(path.basename(target), path.basename(backup), await exists(target), asideOf(dir));
  await runPlan(dir, target, plan);
  await fs.rm(journalPath(target));
}

async function runPlan(dir: string, target: string, plan: SwapPlan): Promise<void> {
  try {
    await writeFileAtomic(journalPath(target), `${JSON.stringify(plan, null, 2)}\n`);
  } catch (error) {
    throw unwritable(target, error);
  }
  failpoint(`${plan.operation}-journal`);
  let done = 0;
  try {
    for (const { from, to } of plan.renames) {
      await fs.rename(path.join(dir, from), path.join(dir, to));
      done += 1;
      failpoint(`${plan.operation}-rename-${done}`);
    }
  } catch (error) {
    await applyRenames(dir, undoRenames(plan, done));
    await fs.rm(journalPath(target), { force: true });
    throw unwritable(target, error);
  }
}

async function applyRenames(dir: string, renames: Array<{ from: string; to: string }>): Promise<void> {
  for (const { from, to } of renames) await fs.rename(path.join(dir, from), path.join(dir, to));
}

function unwritable(target: string, error: unknown): TerrariumError {
  return new TerrariumError('TARGET_UNWRITABLE', `cannot swap environments at ${target}: ${describeCause(error)}`, {
    hint: `check the permissions and free space of ${path.dirname(target)}`,
  });
}

/**
 * Finishes what a killed install or revert left: if its journal is still there, the swap was never
 * committed, so the renames it made are undone and the target is the old environment again. Returns
 * what was done, for the report, or undefined when there was nothing to recover.
 */
export async function recoverInterruptedSwap(target: string): Promise<string | undefined> {
  const journal = journalPath(target);
  let text: string;
  try {
    text = await fs.readFile(journal, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw unrecoverable(journal, describeCause(error));
  }
  const plan = parseSwapPlan(text);
  if (!plan) throw unrecoverable(journal, 'the journal is not one terrarium wrote');
  const dir = path.dirname(target);
  const names = [...new Set(plan.renames.flatMap((r) => [r.from, r.to]))];
  const present = new Set<string>();
  for (const name of names) if (await exists(path.join(dir, name))) present.add(name);
  const done = renamesDone(plan, present);
  if (done === undefined) throw unrecoverable(journal, `the directory no longer matches it (present: ${[...present].join(', ') || 'none'})`);
  try {
    await applyRenames(dir, undoRenames(plan, done));
    await fs.rm(journal);
  } catch (error) {
    throw unrecoverable(journal, describeCause(error));
  }
  return done === 0 ? `an interrupted ${plan.operation} had not changed ${target}` : `undid an interrupted ${plan.operation} of ${target} (${done} of ${plan.renames.length} steps)`;
}

function unrecoverable(journal: string, why: string): TerrariumError {
  return new TerrariumError('TARGET_UNRECOVERABLE', `cannot undo the interrupted swap recorded in ${journal}: ${why}`, {
    hint: 'look at the directories it names, keep the environment you want under the target name, then delete the journal',
  });
}
