import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Entry } from '../../src/archive/entry.js';
import { layersDigest } from '../../src/archive/layers.js';
import type { LocalArchive } from '../../src/archive/save.js';
import { CACHE_LAYOUT, defaultCacheDir } from '../../src/cache/layout.js';
import { LocalCache } from '../../src/cache/local-cache.js';
import { UNPACKED_FORMAT } from '../../src/cache/unpacked-index.js';
import { parseDuration, parseSize } from '../../src/cli/units.js';
import { TerrariumError } from '../../src/errors.js';
import { DirectoryStore } from '../../src/stores/dir.js';
import { BLOBS_DIR, blobName, inReservedFolder, isStorageKey } from '../../src/stores/store.js';
import { testManifest } from '../helpers/manifest.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'terrarium-stores-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** An unpacked tree of one file of `bytes` bytes, committed to the cache under `sha256`. */
async function unpackTree(local: LocalCache, sha256: string, bytes: number): Promise<void> {
  const tree = await local.trees.reserve(sha256);
  writeFileSync(path.join(tree, 'file'), 'x'.repeat(bytes));
  const entries: Entry[] = [{ path: 'file', type: 'file', mode: 0o644, mtime: 0, size: bytes }];
  await local.trees.commitTree(tree, { format: UNPACKED_FORMAT, sha256, entries, bytes, manifest: testManifest() });
}

function archive(content: string): LocalArchive {
  const file = path.join(dir, `src-${createHash('md5').update(content).digest('hex')}`);
  writeFileSync(file, content);
  return {
    path: file,
    sha256: createHash('sha256').update(content).digest('hex'),
    size: Buffer.byteLength(content),
    codec: 'zstd',
    unpackedSize: 0,
    entries: 0,
  };
}

/** A layered archive of these layers' contents, packed into files as a build packs them. */
function layered(contents: string[]): LocalArchive {
  const layers = contents.map((content, i) => ({ ...archive(content), name: i ? `dist${i}-1.0` : 'environment', unpackedSize: 1, entries: 1 }));
  const sum = (field: 'size' | 'unpackedSize' | 'entries') => layers.reduce((total, layer) => total + layer[field], 0);
  return { path: dir, layers, sha256: layersDigest(layers), size: sum('size'), codec: 'zstd', unpackedSize: sum('unpackedSize'), entries: sum('entries') };
}

describe('directory store', () => {
  it('racing publishers of one key: one record, one archive, every publisher told which', async () => {
    const store = new DirectoryStore(path.join(dir, 'store'));
    const results = await Promise.all([1, 2, 3, 4, 5].map((i) => store.publish('k', archive(`archive ${i}`), 'test')));
    expect(results.filter((r) => r.outcome === 'published')).toHaveLength(1);
    const winner = results.find((r) => r.outcome === 'published')!.record;
    for (const r of results) expect(r.record.sha256).toBe(winner.sha256);
    expect(readdirSync(path.join(dir, 'store')).sort()).toEqual(['k.json', `k.${winner.sha256.slice(0, 16)}.tar.zst`].sort());
    expect(await store.list()).toEqual([winner]);
    // A record under a name no key has (an escape sequence for the terminal) is not listed.
    await store.publish('\x1b[2Jevil', archive('planted'), 'test');
    expect(await store.list()).toEqual([winner]);
  });

  it('layers: each blob stored once for every record naming it; one planted under a layer name is replaced; sweep spares what records name and what is new', async () => {
    const root = path.join(dir, 'store');
    const store = new DirectoryStore(root);
    const blob = (content: string) => path.join(root, blobName(createHash('sha256').update(content).digest('hex')));
    await store.publish('a', layered(['env a', 'shared']), 'test');
    // Someone plants bytes of the same size under the name the next record's layer will have.
    mkdirSync(path.dirname(blob('other')), { recursive: true });
    writeFileSync(blob('other'), 'OTHER');
    await store.publish('b', layered(['env b', 'shared', 'other']), 'test');
    expect(readdirSync(path.join(root, 'blobs', 'sha256'))).toHaveLength(4);
    expect(readFileSync(blob('other'), 'utf8')).toBe('other');
    const [a] = await store.archives('a');
    await store.discard(a!);
    const old = new Date(Date.now() - 3_600_000);
    for (const content of ['env a', 'shared']) utimesSync(blob(content), old, old);
    const referenced = new Set((await store.list()).flatMap((r) => r.layers!.map((layer) => layer.sha256)));
    const swept = await store.sweep(referenced, 60_000);
    // `env a` only: `shared` is b's too, and b's own were written a moment ago.
    expect(swept.map((s) => s.sha256)).toEqual([createHash('sha256').update('env a').digest('hex')]);
    expect(readdirSync(path.join(root, 'blobs', 'sha256'))).toHaveLength(3);
  });

  it("sweeps what publishers that died left: in a key's folder as it is read, in the blobs' folder as it is pruned", async () => {
    const root = path.join(dir, 'store');
    const store = new DirectoryStore(root);
    const old = new Date(Date.now() - 2 * 3600_000);
    // Another host's, untouched for two hours: its publisher is gone.
    const left = ['team/.k.json.record-ffffffff-8-0123abcd', 'blobs/sha256/.abc.upload-ffffffff-9-0123abcd'];
    for (const name of left) {
      mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
      writeFileSync(path.join(root, name), 'x');
      utimesSync(path.join(root, name), old, old);
    }
    expect(await store.archives('team/k')).toEqual([]);
    expect(readdirSync(path.join(root, 'team'))).toEqual([]);
    expect(await store.sweep(new Set(), 0)).toEqual([]);
    expect(readdirSync(path.join(root, 'blobs', 'sha256'))).toEqual([]);
  });

  it('sweeps the leases and failure notes untouched past the grace, in key folders too, and nothing else', async () => {
    const root = path.join(dir, 'store');
    const store = new DirectoryStore(root);
    const old = new Date(Date.now() - 3_600_000);
    const files = { 'a.lease': old, 'team/b.build-failed': old, 'c.lease': new Date(), 'd.json': old, 'blobs/e.lease': old };
    for (const [name, when] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
      writeFileSync(path.join(root, name), '{}');
      utimesSync(path.join(root, name), when, when);
    }
    expect((await store.sweepNotes(60_000, true)).sort()).toEqual(['a.lease', 'team/b.build-failed']);
    expect(readdirSync(root).sort()).toEqual(['a.lease', 'blobs', 'c.lease', 'd.json', 'team']);
    expect((await store.sweepNotes(60_000)).sort()).toEqual(['a.lease', 'team/b.build-failed']);
    expect(readdirSync(root).sort()).toEqual(['blobs', 'c.lease', 'd.json', 'team']);
    expect(readdirSync(path.join(root, 'blobs'))).toEqual(['e.lease']);
  });
});

describe('records list what an archive was built from', () => {
  it('keeps the lines, lists the newest records of a key prefix, and drops malformed lines but not the record', async () => {
    const root = path.join(dir, 'store');
    const store = new DirectoryStore(root);
    for (const [i, key] of ['x86_64-3.11-a', 'x86_64-3.11-b', 'x86_64-3.12-c', 'x86_64-3.11-d'].entries()) {
      await store.publish(key, { ...archive(key), requirements: [`pkg==${i}`] }, 'test');
      utimesSync(path.join(root, `${key}.json`), 1000 + i, 1000 + i);
    }
    expect((await store.lookup('x86_64-3.11-a'))?.requirements).toEqual(['pkg==0']);
    const newest = await store.list({ keyPrefix: 'x86_64-3.11-', newest: 2 });
    expect(newest.map((r) => r.key)).toEqual(['x86_64-3.11-d', 'x86_64-3.11-b']);
    const hostile = (requirements: unknown) => {
      const record = JSON.parse(readFileSync(path.join(root, 'x86_64-3.11-a.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(path.join(root, 'x86_64-3.11-a.json'), JSON.stringify({ ...record, requirements }));
      return store.lookup('x86_64-3.11-a');
    };
    for (const bad of [[1, 2], 'pkg', ['x'.repeat(301)], Array.from({ length: 2001 }, () => 'p'), Array.from({ length: 200 }, () => 'p'.repeat(200))]) {
      const record = await hostile(bad);
      expect(record?.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(record?.requirements).toBeUndefined();
    }
    expect((await hostile(['ok==1']))?.requirements).toEqual(['ok==1']);
  });
});

describe('cache', () => {
  it('evicts the least recently used archives and unpacked copies beyond its cap, never the one just added', async () => {
    const root = path.join(dir, 'cache');
    const local = new LocalCache(root, 250);
    const cache = local.archives;
    const used = (file: string, secondsAgo: number) => {
      const when = new Date(Date.now() - secondsAgo * 1000);
      utimesSync(path.join(root, file), when, when);
    };
    const add = async (key: string, bytes: number) => {
      await cache.publish(key, archive(key[0]!.repeat(bytes)), 'test');
      return local.evict(key);
    };
    const unpack = async (key: string, bytes: number) => {
      await unpackTree(local, '0'.repeat(64), bytes);
      await local.trees.commit({ format: UNPACKED_FORMAT, key, bytes, sha256: '0'.repeat(64) });
      return local.evict(key);
    };
    await add('a', 100);
    used('a.json', 30);
    await add('b', 100);
    used('b.json', 20);
    expect(await cache.lookup('a')).toBeDefined(); // using a makes b the least recently used
    expect(await add('c', 100)).toEqual(['archive b']);
    expect((await cache.list()).map((r) => r.key).sort()).toEqual(['a', 'c']);
    used('c.json', 10);
    expect(await unpack('t', 100)).toEqual(['archive c']);
    expect(await local.trees.find('t')).toBeDefined();
    // Its tree goes with it, once past the grace that spares a tree another install is about to name.
    utimesSync(path.join(root, 'trees', `${'0'.repeat(64)}.json`), new Date(0), new Date(0));
    expect(await add('huge', 1000)).toEqual(['archive a', 'unpacked copy t']);
    expect((await cache.list()).map((r) => r.key)).toEqual(['huge']);
    expect(await local.trees.find('t')).toBeUndefined();
    expect(readdirSync(path.join(root, 'unpacked'))).toEqual([]);
    expect(readdirSync(path.join(root, 'trees'))).toEqual([]);
  });

  it('shares an unpacked tree between keys: counted once, with the key used last; swept once no key names it', async () => {
    const root = path.join(dir, 'cache');
    const local = new LocalCache(root, 200);
    const [env1, env2, shared] = ['1', '2', 'e'].map((c) => c.repeat(64)) as [string, string, string];
    const copy = async (key: string, env: string, secondsAgo: number) => {
      const layers = [
        { name: 'environment', sha256: env, size: 1, unpackedSize: 10, entries: 1 },
        { name: 'numpy-2.0', sha256: shared, size: 1, unpackedSize: 100, entries: 1 },
      ];
      await unpackTree(local, env, 10);
      await local.trees.commit({ format: UNPACKED_FORMAT, key, bytes: 110, sha256: layersDigest(layers), layers });
      expect((await local.trees.find(key))!.trees.map((tree) => tree.index.sha256)).toEqual([env, shared]);
      // Used that long ago: the key's copy and its trees.
      const when = new Date(Date.now() - secondsAgo * 1000);
      for (const file of [`unpacked/${key}.json`, `trees/${env}.json`, `trees/${shared}.json`]) utimesSync(path.join(root, file), when, when);
    };
    await unpackTree(local, shared, 100);
    await copy('old', env1, 200);
    await copy('new', env2, 100);
    const sizes = Object.fromEntries((await local.entries()).map((entry) => [entry.key, entry.bytes]));
    expect(sizes).toEqual({ new: 110, old: 10 });
    // A tree no key names yet, and just written, is spared: an install is about to name it.
    await unpackTree(local, 'f'.repeat(64), 5);
    expect(await local.prune({ unusedSince: Date.now() - 150_000 }, false, 60_000)).toEqual([expect.objectContaining({ key: 'old' })]);
    const trees = () => readdirSync(path.join(root, 'trees')).sort();
    expect(trees()).toEqual([env2, `${env2}.json`, 'f'.repeat(64), `${'f'.repeat(64)}.json`, shared, `${shared}.json`].sort());
    expect(await local.trees.find('new')).toBeDefined();
    expect(await local.trees.find('old')).toBeUndefined();
    // Without the grace, the unnamed tree goes; a missing tree makes a key's copy unusable, never a half one.
    expect(await local.trees.sweep(0)).toEqual(['f'.repeat(64)]);
    await local.trees.discardTree(shared);
    expect(await local.trees.find('new')).toBeUndefined();
  });

  it('counts a layer two archives share once, with the one used last, and evicts to the cap by what each frees', async () => {
    const root = path.join(dir, 'cache');
    const local = new LocalCache(root, 160);
    const used = (key: string, secondsAgo: number) => {
      const when = new Date(Date.now() - secondsAgo * 1000);
      utimesSync(path.join(root, `${key}.json`), when, when);
    };
    const shared = 'S'.repeat(100);
    await local.archives.publish('old', layered(['o'.repeat(10), shared]), 'test');
    used('old', 20);
    await local.archives.publish('new', layered(['n'.repeat(10), shared]), 'test');
    used('new', 10);
    const sizes = Object.fromEntries((await local.entries()).map((entry) => [entry.key, entry.bytes]));
    expect(sizes).toEqual({ new: 110, old: 10 });
    // 120 bytes on disk fit 160: nothing goes. A third archive of 50 bytes makes 170: only `old` (10 bytes) must go.
    await local.archives.publish('third', archive('t'.repeat(50)), 'test');
    // Its own layer goes with it, once past the grace that spares a layer another install is adding.
    const own = path.join(root, blobName(createHash('sha256').update('o'.repeat(10)).digest('hex')));
    utimesSync(own, new Date(0), new Date(0));
    expect(await local.evict('third')).toEqual(['archive old']);
    expect(readdirSync(path.join(root, 'blobs', 'sha256')).sort()).toEqual(
      [createHash('sha256').update('n'.repeat(10)).digest('hex'), createHash('sha256').update(shared).digest('hex')].sort(),
    );
  });

  it('keys with / : archives in a folder, an unpacked copy indexed flat; both listed, its tree spared; a name escaping out of the cache ignored', async () => {
    const root = path.join(dir, 'cache');
    const local = new LocalCache(root, 10_000);
    const tree = 'a'.repeat(64);
    await local.archives.publish('team/app', archive('x'.repeat(10)), 'test');
    await unpackTree(local, tree, 10);
    await local.trees.commit({ format: UNPACKED_FORMAT, key: 'team/app', bytes: 10, sha256: tree });
    expect(readdirSync(path.join(root, 'unpacked'))).toEqual(['team%2Fapp.json']);
    // Planted: an index whose name unescapes to a path out of the cache.
    writeFileSync(path.join(root, 'unpacked', '..%2F..%2Fhome.json'), readFileSync(path.join(root, 'unpacked', 'team%2Fapp.json')));
    expect((await local.entries()).map((entry) => `${entry.kind} ${entry.key}`).sort()).toEqual(['archive team/app', 'unpacked copy team/app']);
    utimesSync(path.join(root, 'trees', `${tree}.json`), new Date(0), new Date(0));
    expect(await local.trees.sweep(0)).toEqual([]);
    expect(await local.trees.find('team/app')).toBeDefined();
  });

  it.each<[string, boolean, boolean]>([
    ['x86_64-3.11-abc', true, false],
    ['team/x86_64-3.11-abc', true, false],
    ['blobs/x', true, true],
    ['Trees/x', true, true],
    ['unpacked/x', true, true],
    ['blobs', true, false],
    ['team/../x', false, false],
    ['/x', false, false],
    ['a b', false, false],
  ])('storage key %s: safe %s, in a reserved folder %s', (key, safe, reserved) => {
    expect(isStorageKey(key)).toBe(safe);
    expect(inReservedFolder(key)).toBe(reserved);
  });

  it("reserves the folders of every store's and the cache's layout", () => {
    for (const folder of [BLOBS_DIR, CACHE_LAYOUT.trees, CACHE_LAYOUT.unpacked]) expect(inReservedFolder(`${folder}/x`)).toBe(true);
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
