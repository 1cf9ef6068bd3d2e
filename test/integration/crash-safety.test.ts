import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.js';
import { envState, expectNoLeftovers, leftoversIn } from '../helpers/env-state.js';

const A = 'terra_demo';

/** A copy as it is: links, modes and mtimes kept. */
const copyTree = (from: string, to: string) => execFileSync('cp', ['-a', from, to]);
const B = 'terra_cext';

/**
 * Kills terrarium with SIGKILL at every phase boundary of install and revert (TERRARIUM_FAILPOINT) and
 * at random moments, then checks that the target and its backup are each a complete environment, that
 * the next run succeeds, and that nothing is left behind.
 */
describe('crash safety', () => {
  const box = new Sandbox();
  const dir = box.path('crash');
  const target = path.join(dir, 'env');
  const backup = `${target}.bak`;
  const pristine = { [A]: box.path('pristine-a'), [B]: box.path('pristine-b') };
  // Unpacking archives (no cache); link mode's own kill points are below.
  const store = (...args: string[]) => ['--storage-dir', box.store, '--no-cache', '-t', target, ...args];
  const cache = box.path('cache');
  const linked = (...args: string[]) => ['--storage-dir', box.store, '--cache-dir', cache, '-t', target, ...args];

  beforeAll(async () => {
    box.write('a.txt', 'terra-demo\n');
    box.write('b.txt', 'terra-cext\n');
    mkdirSync(dir);
    await box.seed('demo');
    await box.seed('cext');
    // Both archives stored; a copy of each environment as installed at the target path, to reset from.
    for (const [file, name] of [
      ['b.txt', B],
      ['a.txt', A],
    ] as const) {
      expect((await box.terrarium(store('install', file))).code).toBe(0);
      copyTree(target, pristine[name]);
    }
  });
  afterAll(() => box.cleanup());

  /** Target holds A, the backup holds B. coreutils do it: fs.cpSync and rmSync take 1.5 s where they take 0.1 s. */
  function reset(): void {
    const names = readdirSync(dir).map((name) => path.join(dir, name));
    if (names.length) execFileSync('rm', ['-rf', ...names]);
    copyTree(pristine[A], target);
    copyTree(pristine[B], backup);
  }

  const killedAt = (point: string, args: string[]) => box.terrarium(args, { TERRARIUM_FAILPOINT: point });

  it.each([
    // While taking the lock: its temporary file is left, for the next run to sweep.
    'lock-written',
    'install-locked',
    'extract-entry@40',
    'install-restored',
    'install-staged',
    'install-journal',
    'install-step-1',
    'install-step-2',
    'install-step-3',
    'swap-committed',
  ])('install of a stored archive killed at %s', async (point) => {
    reset();
    const killed = await killedAt(point, store('install', 'b.txt'));
    expect(killed.signal).toBe('SIGKILL');
    // The target is a complete environment at every moment (the exchange leaves no gap); the backup may
    // be under a temporary name mid-swap, and the next run puts it back before anything else.
    const committed = point === 'swap-committed';
    const swapped = /^install-step|^swap-committed/.test(point);
    expect(envState(target)).toBe(swapped ? B : A);
    if (committed) expect(envState(backup)).toBe(A);

    const next = await box.terrarium(store('install', 'b.txt'));
    expect(next.code, next.stderr).toBe(0);
    if (/^install-(journal|step)/.test(point)) expect(next.stderr).toMatch(/interrupted install/);
    // Once committed, the target is B as that install left it: nothing to do, and the backup stays A.
    if (committed) expect(next.stderr).toContain('unchanged: nothing to do');
    expect([envState(target), envState(backup)]).toEqual([B, A]);
    await expectNoLeftovers(dir);
  });

  it.each(['install-built', 'publish-uploaded', 'publish-recorded'])('install that builds, killed at %s', async (point) => {
    reset();
    const fresh = box.path(`store-${point}`);
    const build = ['--storage-dir', fresh, '--no-cache', '-t', target, 'install', 'b.txt'];
    const killed = await killedAt(point, build);
    expect(killed.signal).toBe('SIGKILL');
    expect([envState(target), envState(backup)]).toEqual([A, B]);
    const next = await box.terrarium(build);
    expect(next.code, next.stderr).toBe(0);
    expect([envState(target), envState(backup)]).toEqual([B, A]);
    await expectNoLeftovers(dir);
    // The store holds complete archives only: no temporary upload survives the next publication.
    expect(leftoversIn(fresh)).toEqual([]);
    expect(readdirSync(fresh).filter((name) => name.endsWith('.json'))).toHaveLength(1);
  });

  it.each([
    ['extract-entry@40', 'while unpacking the archive and keeping a copy'],
    ['link-entry@40', 'while linking from the kept copy'],
    ['install-restored', 'once linked'],
  ])('link-mode install killed at %s (%s)', async (point) => {
    reset();
    rmSync(cache, { recursive: true, force: true });
    // Linking needs a kept copy: one install makes it, then the pair is reset again.
    if (point !== 'extract-entry@40') expect((await box.terrarium(linked('install', 'b.txt'))).code).toBe(0);
    reset();
    const killed = await killedAt(point, linked('install', 'b.txt'));
    expect(killed.signal).toBe('SIGKILL');
    expect([envState(target), envState(backup)]).toEqual([A, B]);
    const next = await box.terrarium(linked('-V', 'install', 'b.txt'));
    expect(next.code, next.stderr).toBe(0);
    expect([envState(target), envState(backup)]).toEqual([B, A]);
    await expectNoLeftovers(dir);
    expect(leftoversIn(path.join(cache, 'unpacked'))).toEqual([]);
    expect(readdirSync(path.join(cache, 'unpacked')).filter((name) => name.endsWith('.json'))).toHaveLength(1);
  });

  it.each(['revert-journal', 'revert-step-1'])('revert killed at %s', async (point) => {
    reset();
    const killed = await killedAt(point, ['-t', target, 'revert']);
    expect(killed.signal).toBe('SIGKILL');
    expect([envState(target), envState(backup)]).toEqual(point === 'revert-journal' ? [A, B] : [B, A]);
    // The killed revert is undone, then this one runs: the pair ends exchanged exactly once.
    const next = await box.terrarium(['-t', target, 'revert']);
    expect(next.code, next.stderr).toBe(0);
    expect([envState(target), envState(backup)]).toEqual([B, A]);
    await expectNoLeftovers(dir);
  });

  it('install killed at random moments: always a complete environment, and the next run succeeds', async () => {
    // Spread the kills over a whole restore: measure one first.
    reset();
    const started = Date.now();
    expect((await box.terrarium(store('install', 'b.txt'))).code).toBe(0);
    const span = Date.now() - started;
    // Seeded, so that a failure names the moments to try again (KILL_SEED=N); each round a sixth of the span.
    const seed = Number(process.env.KILL_SEED ?? 20261204);
    const random = fc.sample(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { seed, numRuns: 6 });
    for (let round = 0; round < 6; round++) {
      reset();
      const delay = Math.floor(((round + random[round]!) / 6) * span);
      const killed = await box.terrarium(
        store('install', 'b.txt'),
        {},
        {
          onSpawn: (child) => void setTimeout(() => child.kill('SIGKILL'), delay),
        },
      );
      expect([A, B], `killed after ${delay} ms (exit ${killed.code}, KILL_SEED=${seed})`).toContain(envState(target));
      const next = await box.terrarium(store('install', 'b.txt'));
      expect(next.code, next.stderr).toBe(0);
      expect(envState(target)).toBe(B);
      await expectNoLeftovers(dir, `after a kill at ${delay} ms (exit ${killed.code}): ${killed.stderr}`);
    }
  });
});
