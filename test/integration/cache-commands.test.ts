import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.js';

/** `terrarium cache dir|ls|clean|prune`: the local cache, managed without ever touching a store. */
describe('cache commands', () => {
  const box = new Sandbox();
  const cache = box.path('cache');
  const run = (...args: string[]) => box.main(['--cache-dir', cache, '--storage-dir', box.store, ...args]);
  const storeFiles = () => readdirSync(box.store).sort();
  let key: string;

  beforeAll(async () => {
    box.write('requirements.txt', 'terra-dep\n');
    key = await box.seed('dep');
    const installed = await box.terrarium(['--cache-dir', cache, '--storage-dir', box.store, '-t', box.path('env'), 'install', 'requirements.txt']);
    expect(installed.code, installed.stderr).toBe(0);
    // A restore that leaves a copy says so, with its size and how to keep none.
    expect(installed.stderr).toMatch(
      /kept an unpacked copy of \S+ \([\d.]+ MiB\) in the cache \S+ for repeat installs to link from; --link-mode none keeps none/,
    );
  });
  afterAll(() => box.cleanup());

  it('dir prints the effective directory; with --no-cache, none', async () => {
    expect((await run('cache', 'dir')).stdout).toBe(`${cache}\n`);
    expect(JSON.parse((await box.main(['--no-cache', '--json', 'cache', 'dir'])).stdout)).toEqual({ cacheDir: null, warnings: [] });
    expect((await box.main(['cache', 'dir'])).stdout).toBe(`${path.join(box.dir, '.cache', 'terrarium', 'v1')}\n`);
  });

  it('ls lists each kept copy with its kind, size and last use', async () => {
    const listed = JSON.parse((await run('--json', 'cache', 'ls')).stdout) as {
      entries: Array<{ key: string; kind: string; bytes: number; lastUsed: string }>;
    };
    expect(listed.entries).toEqual([{ key, kind: 'unpacked copy', bytes: expect.any(Number), lastUsed: expect.stringMatching(/^20\d\d-/) }]);
    expect(listed.entries[0]!.bytes).toBeGreaterThan(1 << 20);
    expect((await run('cache', 'ls')).stdout).toContain(`unpacked copy  ${key}`);
  });

  it('prune --dry-run says what it would remove and removes nothing; prune and clean remove, the store untouched', async () => {
    const before = storeFiles();
    const dry = await run('cache', 'prune', '--max-size', '1K', '--dry-run');
    expect(dry.stdout).toContain(`would remove unpacked copy  ${key}`);
    expect(existsSync(path.join(cache, 'unpacked', `${key}.json`))).toBe(true);
    expect(readdirSync(path.join(cache, 'trees')).length).toBeGreaterThan(0);
    expect((await run('cache', 'prune', '--older-than', '1d')).stdout).toBe('');
    const pruned = JSON.parse((await run('--json', 'cache', 'prune', '--max-size', '1K')).stdout) as { removed: Array<{ key: string }> };
    expect(pruned.removed.map((e) => e.key)).toEqual([key]);
    expect(existsSync(path.join(cache, 'unpacked', `${key}.json`))).toBe(false);
    // The key's tree went with it: no other key names it.
    expect(readdirSync(path.join(cache, 'trees'))).toEqual([]);
    expect((await run('cache', 'clean')).stdout).toBe('');
    expect(storeFiles()).toEqual(before);
  });

  it('prune needs a rule', async () => {
    const result = await run('cache', 'prune');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('cache prune needs --max-size or --older-than');
  });
});
