import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSiblingName, siblingPath } from '../../src/io/fs.js';
import { removeLeftovers } from '../../src/io/leftovers.js';
import { acquireLock, LockTimeout } from '../../src/io/lock.js';
import { HOST_TAG, ownerGone } from '../../src/io/owner.js';

/** A pid that belonged to a process which has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'terrarium-own-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('sibling names', () => {
  it('round-trips through siblingPath', () => {
    const name = path.basename(siblingPath('/x/my env.bak', 'staging'));
    expect(parseSiblingName(name)).toEqual({ of: 'my env.bak', tag: 'staging', host: HOST_TAG, pid: process.pid });
  });

  it.each(['env', '.env', '.env.staging', '.env.staging-zz-1-00000000', '.env.staging-0123abcd-0-0123abcd', 'env.staging-0123abcd-12-0123abcd'])(
    'ignores %s',
    (name) => {
      expect(parseSiblingName(name)).toBeUndefined();
    },
  );

  it.each<[string, { host: string; pid: number }, number, boolean]>([
    ['a live process here', { host: HOST_TAG, pid: process.ppid }, 0, false],
    ['this very process', { host: HOST_TAG, pid: process.pid }, 0, false],
    ['a dead process here', { host: HOST_TAG, pid: deadPid() }, 0, true],
    ['another host, recently', { host: 'ffffffff', pid: 1 }, 1000, false],
    ['another host, long ago', { host: 'ffffffff', pid: 1 }, 2 * 3600_000, true],
  ])('owner is gone: %s', (_, owner, age, gone) => {
    const now = Date.now();
    expect(ownerGone(owner, new Date(now - age), now)).toBe(gone);
  });
});

describe('leftovers', () => {
  it('removes what dead processes left and nothing else', async () => {
    const dead = deadPid();
    const names = {
      deadStaging: `.env.staging-${HOST_TAG}-${dead}-0123abcd`,
      deadOther: `.other.staging-${HOST_TAG}-${dead}-0123abcd`,
      live: `.env.trash-${HOST_TAG}-${process.ppid}-0123abcd`,
      foreignOld: `.env.upload-ffffffff-7-0123abcd`,
      foreignNew: `.env.record-ffffffff-8-0123abcd`,
      plain: 'env',
    };
    for (const name of Object.values(names)) writeFileSync(path.join(dir, name), 'x');
    const old = new Date(Date.now() - 2 * 3600_000);
    utimesSync(path.join(dir, names.foreignOld), old, old);
    const removed = await removeLeftovers(dir, ['env']);
    expect(removed.map((p) => path.basename(p)).sort()).toEqual([names.deadStaging, names.foreignOld].sort());
    expect(readdirSync(dir).sort()).toEqual([names.deadOther, names.foreignNew, names.live, 'env'].sort());
  });
});

describe('lock', () => {
  it('excludes a second holder until released, then lets it in', async () => {
    const file = path.join(dir, '.env.lock');
    const first = await acquireLock(file, { command: 'install', timeoutMs: 0 });
    const timedOut = await acquireLock(file, { command: 'install', timeoutMs: 0 }).catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(LockTimeout);
    expect((timedOut as LockTimeout).holder).toMatchObject({ pid: process.pid, host: HOST_TAG, command: 'install' });
    let waited = 0;
    let waiting!: () => void;
    const sawHolder = new Promise<void>((resolve) => (waiting = resolve));
    const second = acquireLock(file, {
      command: 'revert',
      timeoutMs: 10_000,
      onWait: () => {
        waited += 1;
        waiting();
      },
    });
    // Released only once the second run has found it held and said so.
    await sawHolder;
    await first.release();
    await (await second).release();
    expect(waited).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('takes over a lock whose holder died, exactly once among many waiters', async () => {
    const file = path.join(dir, '.env.lock');
    writeFileSync(file, JSON.stringify({ host: HOST_TAG, pid: deadPid(), nonce: 'dead', since: '', command: 'install' }));
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        const lock = await acquireLock(file, { command: 'install', timeoutMs: 30_000 });
        inside += 1;
        most = Math.max(most, inside);
        // Held across a few turns of the event loop, in which any other waiter that wrongly got in would run.
        for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
        inside -= 1;
        await lock.release();
      }),
    );
    expect(most).toBe(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('stops waiting when aborted', async () => {
    const file = path.join(dir, '.env.lock');
    const held = await acquireLock(file, { command: 'install', timeoutMs: 0 });
    const controller = new AbortController();
    // Aborted once it waits: the wait, not the first try, is what must stop.
    const waiting = acquireLock(file, { command: 'install', timeoutMs: 60_000, signal: controller.signal, onWait: () => controller.abort(new Error('stop')) });
    await expect(waiting).rejects.toThrow(/aborted/);
    await held.release();
  });
});
