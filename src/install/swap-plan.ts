/**
 * The renames that swap environments, as data: written to a journal before the first one runs, so that
 * a run killed between two renames can be undone by the next one. All names are siblings in one
 * directory (renames within one directory are atomic), so the journal holds base names only.
 */
export interface Rename {
  from: string;
  to: string;
}

export const JOURNAL_FORMAT = 1;

export interface SwapPlan {
  format: typeof JOURNAL_FORMAT;
  operation: 'install' | 'revert';
  /** The names (among those the renames touch) that existed before the first rename. */
  before: string[];
  renames: Rename[];
  /** Names set aside by the swap, deleted once it is committed. */
  discard: string[];
}

export interface InstallSwapInput {
  staging: string;
  target: string;
  /** Undefined: no backup is kept. */
  backup: string | undefined;
  targetExists: boolean;
  backupExists: boolean;
  /** A fresh temporary sibling name for `name`. */
  aside: (name: string) => string;
}

/** Old backup aside, target to backup (or aside), staging to target. A backup with no target to replace it stays. */
export function planInstallSwap(input: InstallSwapInput): SwapPlan {
  const { staging, target, backup } = input;
  const plan: SwapPlan = { format: JOURNAL_FORMAT, operation: 'install', before: [staging], renames: [], discard: [] };
  if (backup !== undefined && input.backupExists && input.targetExists) {
    const oldBackup = input.aside(backup);
    plan.before.push(backup);
    plan.renames.push({ from: backup, to: oldBackup });
    plan.discard.push(oldBackup);
  }
  if (input.targetExists) {
    const displaced = backup ?? input.aside(target);
    plan.before.push(target);
    plan.renames.push({ from: target, to: displaced });
    if (backup === undefined) plan.discard.push(displaced);
  }
  plan.renames.push({ from: staging, to: target });
  return plan;
}

/** Exchanges target and backup (a missing target simply takes the backup's place). */
export function planRevert(target: string, backup: string, targetExists: boolean, aside: (name: string) => string): SwapPlan {
  if (!targetExists) return { format: JOURNAL_FORMAT, operation: 'revert', before: [backup], renames: [{ from: backup, to: target }], discard: [] };
  const parked = aside(target);
  return {
    format: JOURNAL_FORMAT,
    operation: 'revert',
    before: [target, backup],
    renames: [
      { from: target, to: parked },
      { from: backup, to: target },
      { from: parked, to: backup },
    ],
    discard: [],
  };
}

/**
 * How many of the plan's renames had run, judged from which names exist now: replays the renames from
 * the recorded starting point and returns the first count whose result matches. Undefined when no
 * count matches (something else changed the directory). The smallest match is chosen, so a revert seen
 * complete (same names as before it) is left as it is, which is also a consistent state.
 */
export function renamesDone(plan: SwapPlan, existing: ReadonlySet<string>): number | undefined {
  const names = [...new Set(plan.renames.flatMap((r) => [r.from, r.to]))];
  const state = new Set(plan.before);
  for (let done = 0; ; done++) {
    if (names.every((name) => state.has(name) === existing.has(name))) return done;
    const next = plan.renames[done];
    if (!next) return undefined;
    state.delete(next.from);
    state.add(next.to);
  }
}

/** The renames that put back what the first `done` renames moved, last first. */
export function undoRenames(plan: SwapPlan, done: number): Rename[] {
  return plan.renames
    .slice(0, done)
    .reverse()
    .map((r) => ({ from: r.to, to: r.from }));
}

/** A journal read back from disk, or undefined when it is not one this version wrote. */
export function parseSwapPlan(text: string): SwapPlan | undefined {
  try {
    const value = JSON.parse(text) as Partial<SwapPlan>;
    const isName = (n: unknown) => typeof n === 'string' && n.length > 0 && !n.includes('/') && n !== '.' && n !== '..';
    if (value.format !== JOURNAL_FORMAT || (value.operation !== 'install' && value.operation !== 'revert')) return undefined;
    if (!Array.isArray(value.before) || !value.before.every(isName)) return undefined;
    if (!Array.isArray(value.discard) || !value.discard.every(isName)) return undefined;
    if (!Array.isArray(value.renames) || !value.renames.every((r) => isName(r?.from) && isName(r?.to))) return undefined;
    return value as SwapPlan;
  } catch {
    return undefined;
  }
}
