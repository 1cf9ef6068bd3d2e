import { mkdirSync, readdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.js';

const listed = (dir: string) => readdirSync(dir).sort();

/** What terrarium deletes stays inside what it owns: a symlink planted in a store or the cache leads nowhere it will delete. */
describe('deletion never follows a symlink out of a store or the cache', () => {
  const box = new Sandbox();
  afterAll(() => box.cleanup());

  it('prune of a store whose blobs folder links to another store keeps every layer of that store', async () => {
    const other = box.path('other-store');
    await box.seed('dep', other);
    const blobs = path.join(other, 'blobs', 'sha256');
    const before = listed(blobs);
    const planted = box.path('planted-store');
    mkdirSync(path.join(planted, 'blobs'), { recursive: true });
    symlinkSync(blobs, path.join(planted, 'blobs', 'sha256'));
    const pruned = await box.main(['--storage-dir', planted, 'prune', '--keep', '1', '--layer-grace', '0s']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(listed(blobs)).toEqual(before);
  });

  it("a key folder that links outside the store: an install sweeps nothing there, and the cache's links lead nowhere it deletes", async () => {
    const outside = box.path('outside');
    mkdirSync(outside);
    // Named as a dead run's temporary file would be (host tag, a pid that cannot be alive), and old.
    const leftover = path.join(outside, '.team.record-00000000-999999999-00000000');
    writeFileSync(leftover, 'not terrarium-owned');
    utimesSync(leftover, new Date(2001, 1, 1), new Date(2001, 1, 1));
    const store = box.path('team-store');
    mkdirSync(store);
    symlinkSync(outside, path.join(store, 'team'));
    box.write('demo.txt', 'terra-dep\n');
    const cache = box.path('cache');
    // The cache's trees folder is a link to a folder that must survive the cache's eviction.
    const victim = box.path('victim');
    mkdirSync(path.join(victim, 'a'.repeat(64)), { recursive: true });
    mkdirSync(cache);
    symlinkSync(victim, path.join(cache, 'trees'));
    const result = await box.main([
      '--remote-key-format',
      'team/%(arch)s-%(digest)s',
      '--storage-dir',
      store,
      '--cache-dir',
      cache,
      '-t',
      box.path('env'),
      'install',
      'demo.txt',
    ]);
    expect([0, 5, 8]).toContain(result.code);
    expect(listed(outside)).toContain(path.basename(leftover));
    const cleaned = await box.main(['--cache-dir', cache, 'cache', 'clean']);
    expect(cleaned.code, cleaned.stderr).toBe(0);
    expect(listed(victim)).toContain('a'.repeat(64));
  });
});
