import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, withoutProgress } from '../helpers/cli.js';
import { envState, leftoversIn } from '../helpers/env-state.js';
import { ARCH } from '../helpers/python.js';

function mount(dir: string, options: string): boolean {
  mkdirSync(dir, { recursive: true });
  return spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]).status === 0;
}

function unmount(dir: string): void {
  spawnSync('umount', [dir]);
}

/** Small and read-only file systems need mount(8) (root, or a container allowed to mount tmpfs). */
const canMount = (() => {
  const probe = mkdtempSync(path.join(tmpdir(), 'terrarium-mount-'));
  const ok = mount(probe, 'size=1m');
  if (ok) unmount(probe);
  rmSync(probe, { recursive: true, force: true });
  return ok;
})();

describe.skipIf(!canMount)('full and read-only file systems', () => {
  const box = new Sandbox();
  const small = box.path('small');
  const readOnly = box.path('read-only');
  const store = (...args: string[]) => ['--storage-dir', box.store, ...args];

  beforeAll(async () => {
    box.write('a.txt', 'terra-demo\n');
    box.write('b.txt', 'terra-cext\n');
    box.write('c.txt', 'terra-dep\n');
    await box.seed('demo');
    await box.seed('cext');
    // Room for one environment (about 26 MB) and not for a second.
    expect(mount(small, 'size=40m')).toBe(true);
    expect(mount(readOnly, 'size=100m')).toBe(true);
    cpSync(box.store, readOnly, { recursive: true });
    expect(spawnSync('mount', ['-o', 'remount,ro', readOnly]).status).toBe(0);
  });
  afterAll(() => {
    unmount(small);
    unmount(readOnly);
    box.cleanup();
  });

  it('disk full while extracting: a clear error, the old environment intact, nothing left behind', async () => {
    const target = path.join(small, 'env');
    expect((await box.terrarium(store('-t', target, 'install', 'a.txt'))).code).toBe(0);
    const full = await box.terrarium(store('-t', target, 'install', 'b.txt'));
    expect(full.code, full.stderr).toBe(8);
    expect(full.stderr).toContain(`error: no space left on the device of ${box.shown(small)} for the new environment; ${box.shown(target)} was left as it was`);
    expect(withoutProgress(full.stderr)).toHaveLength(2);
    expect(envState(target)).toBe('terra_demo');
    expect(leftoversIn(small)).toEqual([]);
    // Given room, the same command succeeds.
    expect(spawnSync('mount', ['-o', 'remount,size=100m', small]).status).toBe(0);
    const fits = await box.terrarium(store('-t', target, 'install', 'b.txt'));
    expect(fits.code, fits.stderr).toBe(0);
    expect(envState(target)).toBe('terra_cext');
  });

  it('a read-only storage directory still serves archives; publishing to it is skipped with a warning', async () => {
    const hit = await box.terrarium(['--storage-dir', readOnly, '-t', box.path('from-ro'), 'install', 'a.txt']);
    expect(hit.code, hit.stderr).toBe(0);
    expect(hit.stderr).toContain(`from ${box.shown(readOnly)}`);
    const miss = await box.terrarium(['--storage-dir', readOnly, '-t', box.path('built'), 'install', 'c.txt']);
    expect(miss.code, miss.stderr).toBe(0);
    expect(miss.stderr).toMatch(new RegExp(`warning: could not publish ${ARCH}-\\S+ to .*read-only file system`));
    expect(envState(box.path('built'))).toBe('empty');
  });

  it('a target whose parent is read-only is refused before any work', async () => {
    const result = await box.terrarium(store('-t', path.join(readOnly, 'env'), 'install', 'a.txt'));
    expect(result.code).toBe(8);
    expect(result.stderr).toMatch(/error: cannot lock .*read-only file system/);
    expect(readdirSync(readOnly).filter((name) => name.startsWith('.env'))).toEqual([]);
  });
});
