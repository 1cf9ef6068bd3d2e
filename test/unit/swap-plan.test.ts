import { describe, expect, it } from 'vitest';
import {
  type Journal,
  namesOf,
  parseJournal,
  planInstallSwap,
  planRevert,
  type Step,
  type SwapPlan,
  stepsDone,
  undoSteps,
} from '../../src/target/swap-plan.js';

const aside = (name: string) => `.${name}.trash`;

/** Applies steps to a name -> identity map, checking each is possible (a rename never overwrites). */
function play(state: Map<string, string>, steps: Step[]): Map<string, string> {
  const out = new Map(state);
  for (const step of steps) {
    if (step.op === 'rename') {
      expect(out.has(step.from), `${step.from} exists`).toBe(true);
      expect(out.has(step.to), `${step.to} is free`).toBe(false);
      out.set(step.to, out.get(step.from)!);
      out.delete(step.from);
    } else {
      expect(out.has(step.a) && out.has(step.b), `${step.a} and ${step.b} exist`).toBe(true);
      const a = out.get(step.a)!;
      out.set(step.a, out.get(step.b)!);
      out.set(step.b, a);
    }
  }
  return out;
}

function journalOf(plan: SwapPlan, existing: string[]): Journal {
  return { ...plan, python: 'python3', before: Object.fromEntries(existing.map((name) => [name, `id-${name}`])) };
}

/** Every point a kill can land on: after each step, and after each step of a rollback. */
function checkRecovery(journal: Journal): void {
  const start = new Map(Object.entries(journal.before));
  const full = play(start, journal.steps);
  const rollback = undoSteps(journal, journal.steps.length);
  const states = [
    ...journal.steps.map((_, done) => play(start, journal.steps.slice(0, done))),
    ...rollback.map((_, undone) => play(full, rollback.slice(0, undone))),
    full,
  ];
  for (const state of states) {
    const done = stepsDone(journal, state);
    expect(done).toBeDefined();
    expect(play(state, undoSteps(journal, done!))).toEqual(start);
  }
}

type InstallInput = Parameters<typeof planInstallSwap>[0];
const base = { staging: 'S', target: 'env', aside };
const installCases: Array<[string, InstallInput, string[]]> = [
  ['first install', { ...base, backup: 'env.bak', targetExists: false, backupExists: false, exchange: true }, ['S>env']],
  ['replace, keep backup', { ...base, backup: 'env.bak', targetExists: true, backupExists: false, exchange: true }, ['S<>env', 'S>env.bak']],
  [
    'replace, drop older backup',
    { ...base, backup: 'env.bak', targetExists: true, backupExists: true, exchange: true },
    ['S<>env', 'env.bak>.env.bak.trash', 'S>env.bak'],
  ],
  ['replace without backup', { ...base, backup: undefined, targetExists: true, backupExists: false, exchange: true }, ['S<>env']],
  ['backup kept when there is no target', { ...base, backup: 'env.bak', targetExists: false, backupExists: true, exchange: true }, ['S>env']],
  [
    'no exchange: replace, drop older backup',
    { ...base, backup: 'env.bak', targetExists: true, backupExists: true, exchange: false },
    ['env.bak>.env.bak.trash', 'env>env.bak', 'S>env'],
  ],
  [
    'no exchange: replace without backup',
    { ...base, backup: undefined, targetExists: true, backupExists: false, exchange: false },
    ['env>.env.trash', 'S>env'],
  ],
];
const show = (s: Step) => (s.op === 'rename' ? `${s.from}>${s.to}` : `${s.a}<>${s.b}`);

describe('install swap plan', () => {
  it.each(installCases)('%s', (_, input, steps) => {
    const plan = planInstallSwap(input);
    expect(plan.steps.map(show)).toEqual(steps);
    const existing = ['S', ...(input.targetExists ? ['env'] : []), ...(input.backupExists && input.backup ? [input.backup] : [])];
    checkRecovery(
      journalOf(
        plan,
        existing.filter((name) => namesOf(plan).includes(name)),
      ),
    );
  });

  it('with exchange, the target always holds a complete environment', () => {
    const journal = journalOf(planInstallSwap(installCases[2]![1]), ['S', 'env', 'env.bak']);
    const start = new Map(Object.entries(journal.before));
    for (let done = 0; done <= journal.steps.length; done++) {
      expect(['id-env', 'id-S']).toContain(play(start, journal.steps.slice(0, done)).get('env'));
    }
  });

  it('discards what it set aside, and nothing else', () => {
    expect(planInstallSwap(installCases[2]![1]).discard).toEqual(['.env.bak.trash']);
    expect(planInstallSwap(installCases[3]![1]).discard).toEqual(['S']);
    expect(planInstallSwap(installCases[6]![1]).discard).toEqual(['.env.trash']);
    expect(planInstallSwap(installCases[1]![1]).discard).toEqual([]);
  });

  it('recognises a directory that no longer matches the journal', () => {
    const journal = journalOf(planInstallSwap(installCases[2]![1]), ['S', 'env', 'env.bak']);
    expect(stepsDone(journal, new Map())).toBeUndefined();
    expect(stepsDone(journal, new Map([['env', 'id-other']]))).toBeUndefined();
  });
});

describe('revert plan', () => {
  it.each([true, false])('exchanges target and backup (atomic exchange: %s)', (exchange) => {
    const plan = planRevert('env', 'env.bak', true, exchange, aside);
    expect(plan.steps.map(show)).toEqual(exchange ? ['env<>env.bak'] : ['env>.env.trash', 'env.bak>env', '.env.trash>env.bak']);
    checkRecovery(journalOf(plan, ['env', 'env.bak']));
  });

  it('moves the backup into a missing target', () => {
    expect(planRevert('env', 'env.bak', false, true, aside).steps.map(show)).toEqual(['env.bak>env']);
  });
});

describe('journal parsing', () => {
  const journal = journalOf(planInstallSwap(installCases[2]![1]), ['S', 'env', 'env.bak']);
  it.each<[string, unknown, boolean]>([
    ['a journal', journal, true],
    ['another format', { ...journal, format: 1 }, false],
    ['a path instead of a name', { ...journal, steps: [{ op: 'rename', from: '../x', to: 'env' }] }, false],
    ['a name that climbs', { ...journal, before: { '..': 'id' } }, false],
    ['an unknown step', { ...journal, steps: [{ op: 'delete', from: 'env' }] }, false],
    ['no interpreter', { ...journal, python: undefined }, false],
  ])('%s', (_, value, ok) => {
    expect(parseJournal(JSON.stringify(value)) !== undefined).toBe(ok);
  });

  it('rejects text that is not JSON', () => {
    expect(parseJournal('{')).toBeUndefined();
  });
});
