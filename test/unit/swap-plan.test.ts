import { describe, expect, it } from 'vitest';
import { parseSwapPlan, planInstallSwap, planRevert, renamesDone, undoRenames, type SwapPlan } from '../../src/install/swap-plan.js';

const aside = (name: string) => `.${name}.trash`;

/** The names that exist after the first `done` renames of the plan. */
function stateAfter(plan: SwapPlan, done: number): Set<string> {
  const state = new Set(plan.before);
  for (const r of plan.renames.slice(0, done)) {
    state.delete(r.from);
    state.add(r.to);
  }
  return state;
}

function undo(plan: SwapPlan, state: Set<string>, done: number): Set<string> {
  const out = new Set(state);
  for (const r of undoRenames(plan, done)) {
    expect(out.has(r.from), `undo moves ${r.from}, which exists`).toBe(true);
    expect(out.has(r.to), `undo moves onto ${r.to}, which is free`).toBe(false);
    out.delete(r.from);
    out.add(r.to);
  }
  return out;
}

const installCases: Array<[string, Parameters<typeof planInstallSwap>[0], string[]]> = [
  ['first install', { staging: 'S', target: 'env', backup: '.bak', targetExists: false, backupExists: false, aside }, ['S->env']],
  ['replace, keep backup', { staging: 'S', target: 'env', backup: 'env.bak', targetExists: true, backupExists: false, aside }, ['env->env.bak', 'S->env']],
  ['replace, drop older backup', { staging: 'S', target: 'env', backup: 'env.bak', targetExists: true, backupExists: true, aside }, ['env.bak->.env.bak.trash', 'env->env.bak', 'S->env']],
  ['replace without backup', { staging: 'S', target: 'env', backup: undefined, targetExists: true, backupExists: false, aside }, ['env->.env.trash', 'S->env']],
  ['backup kept when there is no target', { staging: 'S', target: 'env', backup: 'env.bak', targetExists: false, backupExists: true, aside }, ['S->env']],
];

describe('install swap plan', () => {
  it.each(installCases)('%s', (_, input, renames) => {
    const plan = planInstallSwap(input);
    expect(plan.renames.map((r) => `${r.from}->${r.to}`)).toEqual(renames);
    // Killed after any number of renames, the journal tells how many ran, and undoing them restores the start.
    for (let done = 0; done <= plan.renames.length; done++) {
      const state = stateAfter(plan, done);
      expect(renamesDone(plan, state)).toBe(done);
      expect([...undo(plan, state, done)].sort()).toEqual([...plan.before].sort());
    }
  });

  it('discards only what it set aside', () => {
    expect(planInstallSwap(installCases[2]![1]).discard).toEqual(['.env.bak.trash']);
    expect(planInstallSwap(installCases[3]![1]).discard).toEqual(['.env.trash']);
    expect(planInstallSwap(installCases[1]![1]).discard).toEqual([]);
  });

  it('recognises a directory that no longer matches the journal', () => {
    const plan = planInstallSwap(installCases[2]![1]);
    expect(renamesDone(plan, new Set())).toBeUndefined();
    expect(renamesDone(plan, new Set(['env']))).toBeUndefined();
  });

  it('undoes a rollback that was itself interrupted', () => {
    const plan = planInstallSwap(installCases[2]![1]);
    // A rollback runs the undo renames; stopped after any of them, the state is one the forward plan passes through.
    const full = stateAfter(plan, plan.renames.length);
    const steps = undoRenames(plan, plan.renames.length);
    for (let i = 0; i <= steps.length; i++) {
      const state = new Set(full);
      for (const r of steps.slice(0, i)) {
        state.delete(r.from);
        state.add(r.to);
      }
      const done = renamesDone(plan, state);
      expect(done).toBe(plan.renames.length - i);
      expect([...undo(plan, state, done!)].sort()).toEqual([...plan.before].sort());
    }
  });
});

describe('revert plan', () => {
  it('exchanges target and backup; any interruption leaves one consistent state', () => {
    const plan = planRevert('env', 'env.bak', true, aside);
    expect(plan.renames.map((r) => `${r.from}->${r.to}`)).toEqual(['env->.env.trash', 'env.bak->env', '.env.trash->env.bak']);
    for (let done = 0; done < plan.renames.length; done++) {
      const state = stateAfter(plan, done);
      expect(renamesDone(plan, state)).toBe(done);
      expect([...undo(plan, state, done)].sort()).toEqual(['env', 'env.bak']);
    }
    // Complete: the same names as before, so nothing is undone and the revert stands.
    expect(renamesDone(plan, stateAfter(plan, 3))).toBe(0);
  });

  it('moves the backup into a missing target', () => {
    const plan = planRevert('env', 'env.bak', false, aside);
    expect(plan.renames).toEqual([{ from: 'env.bak', to: 'env' }]);
  });
});

describe('journal parsing', () => {
  const plan = planInstallSwap(installCases[2]![1]);
  it.each<[string, string, boolean]>([
    ['a plan', JSON.stringify(plan), true],
    ['not JSON', '{', false],
    ['another format', JSON.stringify({ ...plan, format: 2 }), false],
    ['a path instead of a name', JSON.stringify({ ...plan, renames: [{ from: '../x', to: 'env' }] }), false],
    ['a name that climbs', JSON.stringify({ ...plan, before: ['..'] }), false],
    ['an unknown operation', JSON.stringify({ ...plan, operation: 'rm' }), false],
  ])('%s', (_, text, ok) => {
    expect(parseSwapPlan(text) !== undefined).toBe(ok);
  });
});
