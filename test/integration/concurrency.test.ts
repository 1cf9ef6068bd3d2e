import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_TAG } from '../../src/io/owner.js';
import type { ArchiveRecord } from '../../src/stores/store.js';
import { Sandbox } from '../helpers/cli.js';
import { envState, expectNoLeftovers, leftoversIn } from '../helpers/env-state.js';

/** Locks, parallel installs, and interruption by signals: real processes racing on real directories. */
describe('concurrency and interruption', () => {
  const box = new Sandbox();
  const store = (...args: string[]) => ['--storage-dir', box.store, ...args];

  beforeAll(async () => {
    box.write('a.txt', 'terra-demo\n');
    box.write('b.txt', 'terra-cext\n');
    await box.seed('demo', box.store, 1);
  });
  afterAll(() => box.cleanup());

  /** A lock file as a live terrarium would hold it (this test process stands in for one). */
  function holdLock(target: string): string {
    const file = path.join(path.dirname(target), `.${path.basename(target)}.lock`);
    writeFileSync(file, JSON.stringify({ host: HOST_TAG, pid: process.pid, nonce: 'held-by-test', since: new Date().toISOString(), command: 'install' }));
    return file;
  }

  it('installs into one target are serialised: the second waits, says so, and both succeed', async () => {
    const target = box.path('same');
    const runs = await Promise.all([0, 1, 2].map(() => box.terrarium(store('-t', target, 'install', 'a.txt'))));
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    expect(runs.filter((run) => run.stderr.includes('waiting for')).length).toBeGreaterThanOrEqual(1);
    // The first installs; the others, once their turn comes, find the target already is that environment.
    expect(runs.filter((run) => run.stderr.includes('unchanged: nothing to do')).length).toBe(2);
    expect(envState(target)).toBe('terra_demo');
    expect(existsSync(`${target}.bak`)).toBe(false);
    await expectNoLeftovers(box.dir);
  });

  it('installs of one key into different targets run in parallel and publish one archive', async () => {
    const fresh = box.path('fresh-store');
    const targets = [0, 1, 2].map((i) => box.path(`parallel-${i}`));
    // Each builds (--build-wait 0: no waiting for another's lease), so that their publications race.
    const runs = await Promise.all(targets.map((t) => box.terrarium(['--storage-dir', fresh, '--build-wait', '0', '-t', t, 'install', 'b.txt'])));
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    for (const t of targets) expect(envState(t)).toBe('terra_cext');
    const files = readdirSync(fresh);
    expect(files.filter((name) => name.endsWith('.json'))).toHaveLength(1);
    // The builds made the same distribution layers (reproducible on this Python), stored once; each made
    // its own environment layer: a loser that found the record first uploaded nothing, one that raced
    // it leaves its environment layer for prune.
    const record = JSON.parse(readFileSync(path.join(fresh, files.find((name) => name.endsWith('.json'))!), 'utf8')) as ArchiveRecord;
    const blobs = readdirSync(path.join(fresh, 'blobs', 'sha256'));
    expect(blobs).toEqual(expect.arrayContaining(record.layers!.map((layer) => layer.sha256)));
    expect(blobs.length).toBeGreaterThanOrEqual(record.layers!.length);
    expect(blobs.length).toBeLessThanOrEqual(record.layers!.length + 2);
    expect(leftoversIn(fresh)).toEqual([]);
  });

  it('gives up after --lock-timeout, naming the holder, and touches nothing', async () => {
    const target = box.path('locked');
    const lock = holdLock(target);
    const result = await box.terrarium(store('-t', target, '--lock-timeout', '1', 'install', 'a.txt'));
    expect(result.code).toBe(11);
    expect(result.stderr).toContain(`is still locked by terrarium install (pid ${process.pid} on this host`);
    expect(result.stderr).toContain(box.shown(lock));
    expect(readdirSync(box.dir).filter((name) => name.startsWith('.locked'))).toEqual(['.locked.lock']);
  });

  it('SIGTERM while waiting for the lock: exits 143 at once and leaves the lock of the holder alone', async () => {
    const target = box.path('waiting');
    holdLock(target);
    const result = await box.terrarium(
      store('-t', target, 'install', 'a.txt'),
      {},
      {
        onSpawn: (child) => {
          child.stderr?.on('data', (chunk: Buffer) => {
            if (chunk.toString().includes('waiting for')) child.kill('SIGTERM');
          });
        },
      },
    );
    expect(result.code).toBe(143);
    expect(result.stderr).toContain('interrupted by SIGTERM');
    expect(readdirSync(box.dir).filter((name) => name.startsWith('.waiting'))).toEqual(['.waiting.lock']);
  });

  it('SIGINT during a build stops pip, removes the staging directory and keeps the old environment', async () => {
    const target = box.path('interrupted');
    expect((await box.terrarium(store('-t', target, 'install', 'a.txt'))).code).toBe(0);
    const result = await box.terrarium(
      store('-VV', '-t', target, '--no-download', 'install', 'b.txt'),
      {},
      {
        onSpawn: (child) => {
          // pip's own first line (-VV passes its output on): pip is running.
          child.stderr?.on('data', (chunk: Buffer) => {
            if (chunk.toString().includes('Looking in links')) child.kill('SIGINT');
          });
        },
      },
    );
    expect(result.code).toBe(130);
    expect(result.stderr).toContain('interrupted by SIGINT before the target was changed');
    expect(envState(target)).toBe('terra_demo');
    expect(leftoversIn(box.dir).filter((name) => name.startsWith('.interrupted'))).toEqual([]);
    // Nothing half-built was published.
    expect(readdirSync(box.store).filter((name) => name.endsWith('.json'))).toHaveLength(1);
  });
});
