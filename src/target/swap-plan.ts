/**
 * The steps that swap environments, as data: written to a journal before the first one runs, so that a
 * run killed part-way can be undone by the next one. All names are siblings in one directory (renames
 * within one directory are atomic), so the journal holds base names only, with the identity (device
 * and inode) of each directory, which no rename or exchange changes: that is how recovery tells where
 * each environment is now.
 */
export type Step = { op: 'rename'; from: string; to: string } | { op: 'exchange'; a: string; b: string };

export const JOURNAL_FORMAT = 2;

export interface SwapPlan {
  format: typeof JOURNAL_FORMAT;
  operation: 'install' | 'revert';
  steps: Step[];
  /** Names set aside by the swap, deleted once it is committed. */
  discard: string[];
}

export interface Journal extends SwapPlan {
  /** Identity of what each name held before the first step (names absent then are absent here). */
  before: Record<string, string>;
  /** The interpreter that runs exchanges (to undo one). */
  python: string;
}

export interface InstallSwapInput {
  staging: string;
  target: string;
  /** Undefined: no backup is kept. */
  backup: string | undefined;
  targetExists: boolean;
  backupExists: boolean;
  /** Whether atomic exchange is available; without it the target is briefly absent between two renames. */
  exchange: boolean;
  /** A fresh temporary sibling name for `name`. */
  aside: (name: string) => string;
}

const rename = (from: string, to: string): Step => ({ op: 'rename', from, to });

/**
 * With exchange: staging and target trade places in one step (the target is never absent), then the old
 * backup is set aside and the old target becomes the backup. Without: the old backup aside, the target
 * to the backup (or aside), staging to the target. A backup with no target to replace it stays.
 */
export function planInstallSwap(input: InstallSwapInput): SwapPlan {
  const { staging, target, backup } = input;
  const plan: SwapPlan = { format: JOURNAL_FORMAT, operation: 'install', steps: [], discard: [] };
  if (!input.targetExists) {
    plan.steps.push(rename(staging, target));
    return plan;
  }
  const oldBackup = backup !== undefined && input.backupExists ? input.aside(backup) : undefined;
  if (oldBackup) plan.discard.push(oldBackup);
  if (input.exchange) {
    plan.steps.push({ op: 'exchange', a: staging, b: target });
    if (oldBackup) plan.steps.push(rename(backup!, oldBackup));
    // Without a backup, the old environment stays under the staging name until the commit drops it.
    if (backup !== undefined) plan.steps.push(rename(staging, backup));
    else plan.discard.push(staging);
    return plan;
  }
  if (oldBackup) plan.steps.push(rename(backup!, oldBackup));
  const displaced = backup ?? input.aside(target);
  plan.steps.push(rename(target, displaced), rename(staging, target));
  if (backup === undefined) plan.discard.push(displaced);
  return plan;
}

/** Exchanges target and backup (a missing target simply takes the backup's place). */
export function planRevert(target: string, backup: string, targetExists: boolean, exchange: boolean, aside: (name: string) => string): SwapPlan {
  const plan = (steps: Step[]): SwapPlan => ({ format: JOURNAL_FORMAT, operation: 'revert', steps, discard: [] });
  if (!targetExists) return plan([rename(backup, target)]);
  if (exchange) return plan([{ op: 'exchange', a: target, b: backup }]);
  const parked = aside(target);
  return plan([rename(target, parked), rename(backup, target), rename(parked, backup)]);
}

export function namesOf(plan: SwapPlan): string[] {
  return [...new Set(plan.steps.flatMap((s) => (s.op === 'rename' ? [s.from, s.to] : [s.a, s.b])))];
}

function apply(state: Map<string, string>, step: Step): void {
  if (step.op === 'rename') {
    const moved = state.get(step.from);
    state.delete(step.from);
    if (moved !== undefined) state.set(step.to, moved);
    return;
  }
  const [a, b] = [state.get(step.a), state.get(step.b)];
  state.delete(step.a);
  state.delete(step.b);
  if (b !== undefined) state.set(step.a, b);
  if (a !== undefined) state.set(step.b, a);
}

/**
 * How many steps had run, judged from what each name holds now (`now`: name to identity): replays the
 * steps from the recorded start and returns the count whose result matches, or undefined when none
 * does (something else changed the directory).
 */
export function stepsDone(journal: Pick<Journal, 'steps' | 'before'>, now: ReadonlyMap<string, string>): number | undefined {
  const names = namesOf({ ...journal, format: JOURNAL_FORMAT, operation: 'install', discard: [] });
  const state = new Map(Object.entries(journal.before));
  for (let done = 0; ; done++) {
    if (names.every((name) => state.get(name) === now.get(name))) return done;
    const next = journal.steps[done];
    if (!next) return undefined;
    apply(state, next);
  }
}

/** The steps that put back what the first `done` steps changed, last first. */
export function undoSteps(plan: Pick<SwapPlan, 'steps'>, done: number): Step[] {
  return plan.steps
    .slice(0, done)
    .reverse()
    .map((s) => (s.op === 'rename' ? rename(s.to, s.from) : s));
}

/** A journal read back from disk, or undefined when it is not one this version wrote. */
export function parseJournal(text: string): Journal | undefined {
  try {
    const value = JSON.parse(text) as Partial<Journal>;
    const isName = (n: unknown) => typeof n === 'string' && n.length > 0 && !n.includes('/') && n !== '.' && n !== '..';
    const isStep = (s: Partial<Step> | undefined) =>
      (s?.op === 'rename' && isName(s.from) && isName(s.to)) || (s?.op === 'exchange' && isName(s.a) && isName(s.b));
    if (value.format !== JOURNAL_FORMAT || (value.operation !== 'install' && value.operation !== 'revert')) return undefined;
    if (typeof value.python !== 'string' || typeof value.before !== 'object' || value.before === null) return undefined;
    if (!Object.entries(value.before).every(([name, id]) => isName(name) && typeof id === 'string')) return undefined;
    if (!Array.isArray(value.discard) || !value.discard.every(isName)) return undefined;
    if (!Array.isArray(value.steps) || !value.steps.every(isStep)) return undefined;
    return value as Journal;
  } catch {
    return undefined;
  }
}
