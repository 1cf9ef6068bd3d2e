import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createReporter } from '../../src/report/reporter.js';
import { swapIn } from '../../src/target/swap.js';
import { lockTarget } from '../../src/target/target-lock.js';

const quiet = createReporter({ stdout: { write: () => true }, stderr: { write: () => true } }, -1);

/** A holder that stalls (a paused VM, a hung NFS mount) can lose its lock while alive: it must not swap then. */
describe("the swap re-checks that this run still holds the target's lock", () => {
  let dir: string;
  let target: string;
  let staging: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'terrarium-fence-'));
    target = path.join(dir, 'env');
    staging = path.join(dir, '.env.staging');
    for (const [where, marker] of [
      [target, 'old'],
      [staging, 'new'],
    ] as const) {
      mkdirSync(where);
      writeFileSync(path.join(where, marker), '');
    }
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses to swap once another run has taken the lock over, and changes nothing', async () => {
    const lock = await lockTarget(target, { command: 'install', lockTimeoutSeconds: 0, backupSuffix: '.bak', reporter: quiet });
    const lockFile = path.join(dir, '.env.lock');
    // What a run on another host writes once it judged this one's lock stale and broke it.
    writeFileSync(lockFile, JSON.stringify({ host: 'ffffffff', pid: 4242, nonce: 'someone-else', since: new Date().toISOString(), command: 'install' }));
    const refused = await swapIn(staging, target, `${target}.bak`, 'python3', undefined, () => lock.assertHeld()).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'TARGET_LOCKED' });
    expect((refused as Error).message).toContain('lost the lock');
    expect(readdirSync(target)).toEqual(['old']);
    expect(readdirSync(staging)).toEqual(['new']);
    expect(existsSync(`${target}.bak`)).toBe(false);
    expect(readdirSync(dir).filter((name) => name.endsWith('.swap.json'))).toEqual([]);
    // The new holder's lock is left alone.
    await lock.release();
    expect(JSON.parse(readFileSync(lockFile, 'utf8')).nonce).toBe('someone-else');
  });

  it('swaps while the lock is still its own', async () => {
    const lock = await lockTarget(target, { command: 'install', lockTimeoutSeconds: 0, backupSuffix: '.bak', reporter: quiet });
    const swap = await swapIn(staging, target, `${target}.bak`, 'python3', undefined, () => lock.assertHeld());
    await swap.commit();
    await lock.release();
    expect(readdirSync(target)).toEqual(['new']);
    expect(readdirSync(`${target}.bak`)).toEqual(['old']);
  });
});
