import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.js';
import { ACCESS_KEY, BUCKET, S3TestServer, SECRET_KEY } from '../helpers/s3.js';

/**
 * A key format with `/` (one folder per team or project in a shared bucket) puts a key's record in a
 * folder: publishing, listing, pruning and the cache all find it there.
 */
describe('keys in folders (--remote-key-format with /)', () => {
  const box = new Sandbox();
  const format = ['--remote-key-format', 'team/%(arch)s-%(digest)s'];
  const s3 = new S3TestServer();
  const s3Env = () => ({ S3_BUCKET: BUCKET, S3_ACCESS_KEY: ACCESS_KEY, S3_SECRET_KEY: SECRET_KEY, S3_ENDPOINT: s3.endpoint, S3_PATH_STYLE: '1' });
  let key = '';

  beforeAll(async () => {
    box.write('demo.txt', 'terra-demo\n');
    await s3.start();
    key = (await box.main([...format, 'key', 'demo.txt'])).stdout.trim();
  });
  afterAll(async () => {
    await s3.stop();
    box.cleanup();
  });

  it('in a storage directory: published in its folder, listed, restored in link mode from the cache, and its layers kept by prune', async () => {
    expect(key).toMatch(/^team\//);
    const built = await box.main([...format, '--storage-dir', box.store, '-t', box.path('first'), 'install', 'demo.txt']);
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).not.toContain('could not publish');
    expect(existsSync(path.join(box.store, `${key}.json`))).toBe(true);
    expect((await box.main(['--storage-dir', box.store, 'ls'])).stdout).toContain(key);

    const restore = (target: string) => box.main([...format, '--storage-dir', box.store, '--require-download', '-t', box.path(target), 'install', 'demo.txt']);
    const kept = await restore('second');
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stderr).toContain(`kept an unpacked copy of ${key}`);
    const linked = await restore('third');
    expect(linked.code, linked.stderr).toBe(0);
    expect(linked.stderr).toContain('from unpacked copy in the cache');
    expect((await box.main(['cache', 'ls'])).stdout).toMatch(new RegExp(`unpacked copy +${key}`));

    const blobs = () => readdirSync(path.join(box.store, 'blobs', 'sha256')).sort();
    const before = blobs();
    const pruned = await box.main(['--storage-dir', box.store, 'prune', '--keep', '5', '--layer-grace', '0s']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(blobs()).toEqual(before);
    expect((await box.exec(box.path('third', 'bin', 'terra-demo'), [])).stdout).toContain('hello, terrarium');
  });

  it('in S3: listed and kept by prune, then restored', async () => {
    const built = await box.main([...format, '--no-cache', '-t', box.path('s3-first'), 'install', 'demo.txt'], s3Env());
    expect(built.code, built.stderr).toBe(0);
    expect((await s3.keys('')).includes(`${key}.json`)).toBe(true);
    // A record planted under a name no key has (an escape sequence for the terminal) is not listed.
    const planted = '\x1b[2Jteam/evil';
    await s3.put(`${planted}.json`, (await s3.get(`${key}.json`)).toString().replaceAll(key, JSON.stringify(planted).slice(1, -1)));
    const shown = await box.main(['ls'], s3Env());
    expect(shown.stdout).toContain(key);
    expect(shown.stdout).not.toContain('\x1b');
    const before = await s3.keys('blobs/');
    expect(before.length).toBeGreaterThan(0);
    // What builds that were killed or failed leave: swept once older than the grace, here none.
    const notes = ['team/gone.lease', 'team/gone.build-failed'];
    for (const name of notes) await s3.put(name, '{}');
    const spared = await box.main(['--json', 'prune', '--keep', '5'], s3Env());
    expect(JSON.parse(spared.stdout)).toMatchObject({ deleted: [], layers: [], notes: [] });
    const pruned = await box.main(['--json', 'prune', '--keep', '5', '--layer-grace', '0s'], s3Env());
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(JSON.parse(pruned.stdout)).toMatchObject({
      deleted: [],
      layers: [],
      notes: expect.arrayContaining(notes.map((name) => ({ store: expect.any(String), name }))),
    });
    expect(await s3.keys('blobs/')).toEqual(before);
    expect((await s3.keys('team/')).filter((name) => notes.includes(name))).toEqual([]);
    const cache = ['--cache-dir', box.path('s3-cache')];
    const restored = await box.main([...format, ...cache, '--require-download', '-t', box.path('s3-second'), 'install', 'demo.txt'], s3Env());
    expect(restored.code, restored.stderr).toBe(0);
    const listed = (await box.main([...cache, 'cache', 'ls'])).stdout;
    expect(listed).toMatch(new RegExp(`archive +${key}`));
    expect(listed).toMatch(new RegExp(`unpacked copy +${key}`));
    // Each key's index of its unpacked copy is in one folder, its `/` escaped.
    expect(readdirSync(box.path('s3-cache', 'unpacked'))).toEqual([`${key.replace('/', '%2F')}.json`]);
  });
});
