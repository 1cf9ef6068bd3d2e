import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDuration, parseSize } from '../../src/cli/units.js';
import { TerrariumError } from '../../src/errors.js';
import { CacheStore } from '../../src/stores/cache.js';
import { defaultCacheDir } from '../../src/stores/cache-dir.js';
import { DirectoryStore } from '../../src/stores/dir.js';
import type { LocalArchive } from '../../src/stores/store.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'terrarium-stores-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function archive(content: string): LocalArchive {
  const file = path.join(dir, `src-${createHash('md5').update(content).digest('hex')}`);
  writeFileSync(file, content);
  return { path: file, sha256: createHash('sha256').update(content).digest('hex'), size: Buffer.byteLength(content), codec: 'zstd' };
}

describe('directory store', () => {
  it('racing publishers of one key: one record, one archive, every publisher told which', async () => {
    const store = new DirectoryStore(path.join(dir, 'store'));
    const results = await Promise.all([1, 2, 3, 4, 5].map((i) => store.publish('k', archive(`archive ${i}`), 'test')));
    expect(results.filter((r) => r.published)).toHaveLength(1);
    const winner = results.find((r) => r.published)!.record;
    for (const r of results) expect(r.record.sha256).toBe(winner.sha256);
    expect(readdirSync(path.join(dir, 'store')).sort()).toEqual(['k.json', `k.${winner.sha256.slice(0, 16)}.tar.zst`].sort());
    expect(await store.list()).toEqual([winner]);
  });
});

describe('cache', () => {
  it('evicts the least recently used archives beyond its cap, never the one just added', async () => {
    const root = path.join(dir, 'cache');
    const cache = new CacheStore(root, 250);
    const used = (key: string, secondsAgo: number) => {
      const when = new Date(Date.now() - secondsAgo * 1000);
      utimesSync(path.join(root, `${key}.json`), when, when);
    };
    await cache.publish('a', archive('a'.repeat(100)), 'test');
    used('a', 30);
    await cache.publish('b', archive('b'.repeat(100)), 'test');
    used('b', 20);
    expect(await cache.lookup('a')).toBeDefined(); // using a makes b the least recently used
    await cache.publish('c', archive('c'.repeat(100)), 'test');
    expect((await cache.list()).map((r) => r.key).sort()).toEqual(['a', 'c']);
    await cache.publish('huge', archive('h'.repeat(1000)), 'test');
    expect((await cache.list()).map((r) => r.key)).toEqual(['huge']);
  });

  it.each<[NodeJS.ProcessEnv, string | undefined]>([
    [{ XDG_CACHE_HOME: '/x/cache', HOME: '/home/u' }, '/x/cache/terrarium/v1'],
    [{ HOME: '/home/u' }, '/home/u/.cache/terrarium/v1'],
    [{}, undefined],
  ])('lives in the XDG cache directory: %j', (env, expected) => {
    expect(defaultCacheDir(env)).toBe(expected);
  });
});

describe('sizes and durations', () => {
  it.each<[string, number]>([
    ['1048576', 1048576],
    ['500M', 500 * 1024 ** 2],
    ['2G', 2 * 1024 ** 3],
    ['1.5GiB', 1.5 * 1024 ** 3],
    ['10 kb', 10240],
  ])('size %s', (text, bytes) => expect(parseSize(text, '--cache-max-size')).toBe(bytes));

  it.each<[string, number]>([
    ['30d', 30 * 86_400_000],
    ['12h', 12 * 3_600_000],
    ['2w', 14 * 86_400_000],
    ['1d12h', 36 * 3_600_000],
    ['45s', 45_000],
  ])('duration %s', (text, ms) => expect(parseDuration(text, '--older-than')).toBe(ms));

  it.each(['', 'G', '5X', '-1M', '1.2.3'])('refuses the size %j', (text) => {
    expect(() => parseSize(text, '--cache-max-size')).toThrow(TerrariumError);
  });

  it.each(['', '30', 'd', '30 days', '1d 2h', '-3d'])('refuses the duration %j', (text) => {
    expect(() => parseDuration(text, '--older-than')).toThrow(TerrariumError);
  });
});
