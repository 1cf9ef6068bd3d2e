import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Layer, layersDigest } from '../../src/archive/layers.js';
import { PLACEHOLDER_PREFIX } from '../../src/archive/manifest.js';
import { EXIT } from '../../src/errors.js';
import { type ArchiveRecord, blobName, signatureName } from '../../src/stores/store.js';
import { Sandbox } from '../helpers/cli.js';
import { envState } from '../helpers/env-state.js';
import { DirectoryServer } from '../helpers/http-server.js';
import { ACCESS_KEY, BUCKET, S3TestServer, SECRET_KEY } from '../helpers/s3.js';
import { zstdCompress } from '../helpers/zstd.js';

/** Archive format 2 on real builds: a layer per distribution, shared between keys, in a storage directory, over HTTP, in S3 and in the cache. */
describe('layered archives (format 2)', () => {
  const box = new Sandbox();
  const both = { name: 'both.txt', text: 'terra-demo\nterra-cext\n' };
  const demo = { name: 'demo.txt', text: 'terra-demo\n' };
  const keys = { both: '', demo: '' };
  const dir = (store: string, ...rest: string[]) => ['--storage-dir', store, '--no-cache', ...rest];
  const record = (store: string, key: string) => JSON.parse(readFileSync(path.join(store, `${key}.json`), 'utf8')) as ArchiveRecord;
  const blobs = (store: string) => readdirSync(path.join(store, 'blobs', 'sha256')).sort();
  const layerOf = (r: ArchiveRecord, prefix: string) => r.layers!.find((layer) => layer.name.startsWith(prefix))!;
  /** A copy of the built store, for a test that damages or prunes it. */
  const copyStore = (name: string) => {
    const copy = box.path(name);
    cpSync(box.store, copy, { recursive: true });
    return copy;
  };

  const s3 = new S3TestServer();
  const s3Env = () => ({
    S3_BUCKET: BUCKET,
    S3_ACCESS_KEY: ACCESS_KEY,
    S3_SECRET_KEY: SECRET_KEY,
    S3_ENDPOINT: s3.endpoint,
    S3_PREFIX: 'envs/',
    S3_PATH_STYLE: '1',
  });
  const signer = box.path('builder.key');

  beforeAll(async () => {
    for (const file of [both, demo]) box.write(file.name, file.text);
    await s3.start();
    expect((await box.main(['keygen', signer])).code).toBe(0);
    // Two builds at two paths, for two keys that share three distributions (and pip and setuptools),
    // each published to a storage directory and to S3; the second signed.
    const first = await box.main(dir(box.store, '--format', '2', '-t', box.path('first'), 'install', both.name), s3Env());
    expect(first.code, first.stderr).toBe(0);
    const second = await box.main(dir(box.store, '--format', '2', '--sign-key', signer, '-t', box.path('elsewhere', 'second'), 'install', demo.name), s3Env());
    expect(second.code, second.stderr).toBe(0);
    keys.both = (await box.main(['key', both.name])).stdout.trim();
    keys.demo = (await box.main(['key', demo.name])).stdout.trim();
  });
  afterAll(async () => {
    await s3.stop();
    box.cleanup();
  });

  it('the same distribution packs to the same layer from two builds at two paths: the second key stores only its own environment layer', () => {
    const a = record(box.store, keys.both);
    const b = record(box.store, keys.demo);
    expect(a.format).toBe(2);
    expect(a.layers!.map((layer) => layer.name)).toEqual([
      'environment',
      'pip-23.2.1',
      expect.stringMatching(/^setuptools-/),
      'terra_cext-1.0',
      'terra_demo-1.0',
      'terra_dep-1.0',
    ]);
    for (const layer of b.layers!.slice(1)) expect(layerOf(a, layer.name).sha256, layer.name).toBe(layer.sha256);
    expect(blobs(box.store)).toEqual([...new Set([...a.layers!, ...b.layers!].map((layer) => layer.sha256))].sort());
    // terra_demo has a console script: its layer names the placeholder, not either build path.
    const added = b.layers![0]!.size;
    expect(added).toBeLessThan(0.1 * a.size);
    expect(a.sha256).toBe(layersDigest(a.layers!));
  });

  it('restores at a path with a space: scripts, the C extension and valid bytecode, no placeholder left outside bytecode', async () => {
    const target = box.path('restored here', 'env');
    const result = await box.main(dir(box.store, '--require-download', '-t', target, 'install', both.name));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/unpack: .* in 6 layers from .*, verified/);
    expect((await box.exec(path.join(target, 'bin', 'terra-demo'), [])).stdout).toContain('hello, terrarium');
    const pyc = path.join(target, 'lib', 'python3.11', 'site-packages', 'terra_cext', '__pycache__', '__init__.cpython-311.pyc');
    const before = readFileSync(pyc);
    utimesSync(pyc, 0, 0);
    const imported = await box.exec(path.join(target, 'bin', 'python'), ['-c', 'import terra_cext, terra_demo, pip; print(terra_cext.__file__)']);
    expect(imported.stdout.trim()).toBe(path.join(target, 'lib', 'python3.11', 'site-packages', 'terra_cext', '__init__.py'));
    // Python found its bytecode valid (made against the archived mtimes), so it wrote none anew.
    expect(readFileSync(pyc).equals(before) && statSync(pyc).mtimeMs === 0).toBe(true);
    const named = (await box.exec('grep', ['-rl', '--exclude=*.pyc', PLACEHOLDER_PREFIX, target])).stdout.trim();
    expect(named).toBe('');
  });

  it('ls and inspect show the layers', async () => {
    const ls = await box.main(['--storage-dir', box.store, 'ls']);
    expect(ls.stdout).toMatch(new RegExp(`${keys.both} .* 6 layers`));
    const inspect = await box.main(['--storage-dir', box.store, 'inspect', keys.both]);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toContain('layers        (6, format 2)');
    expect(inspect.stdout).toMatch(/ {2}terra_cext-1\.0, .* \(6 entries\), sha256 [0-9a-f]{64}/);
    expect(inspect.stdout).toContain('  terra-cext==1.0');
  });

  it('over HTTP with a cache: a second key downloads only the layers the cache lacks', async () => {
    const server = new DirectoryServer(box.store);
    const { requests } = server;
    const url = await server.start();
    const cache = ['--storage-url', url, '--cache-dir', box.path('http-cache'), '--link-mode', 'none', '--require-download'];
    try {
      const first = await box.main([...cache, '-t', box.path('via-http-1'), 'install', both.name]);
      expect(first.code, first.stderr).toBe(0);
      expect(requests.filter((url) => url.startsWith('/blobs/'))).toHaveLength(6);
      requests.length = 0;
      const second = await box.main([...cache, '-t', box.path('via-http-2'), 'install', demo.name]);
      expect(second.code, second.stderr).toBe(0);
      const b = record(box.store, keys.demo);
      expect(requests.filter((url) => url.startsWith('/blobs/'))).toEqual([`/${blobName(b.layers![0]!.sha256)}`]);
      // The cache holds one copy of each layer, for both keys.
      expect(readdirSync(box.path('http-cache', 'blobs', 'sha256'))).toHaveLength(7);
      requests.length = 0;
      const again = await box.main([...cache, '-t', box.path('via-http-3'), 'install', demo.name]);
      expect(again.code, again.stderr).toBe(0);
      expect(requests.filter((url) => url.startsWith('/blobs/'))).toEqual([]);
      // cache verify reads every cached layer: all good, then one damaged is found, dropped with its record.
      const verify = () => box.main(['--cache-dir', box.path('http-cache'), 'cache', 'verify']);
      expect((await verify()).code).toBe(0);
      const cachedBlob = box.path('http-cache', blobName(record(box.store, keys.demo).layers![0]!.sha256));
      writeFileSync(cachedBlob, Buffer.alloc(statSync(cachedBlob).size));
      const damaged = await verify();
      expect(damaged.code).toBe(EXIT.archive);
      expect(damaged.stdout, damaged.stdout).toMatch(new RegExp(`dropped  archive +${keys.demo}: layer environment`));
      expect(existsSync(cachedBlob)).toBe(false);
    } finally {
      await server.stop();
    }
  });

  it('link mode: a second key links the layers it shares from one unpacked tree each, and unpacks only its own', async () => {
    const cache = box.path('link-cache');
    const link = (target: string, file: { name: string }) =>
      box.main(['--storage-dir', box.store, '--cache-dir', cache, '-V', '-t', box.path(target), 'install', file.name]);
    const trees = () => readdirSync(path.join(cache, 'trees')).filter((name) => /^[0-9a-f]{64}$/.test(name));
    const a = record(box.store, keys.both);
    const b = record(box.store, keys.demo);
    const first = await link('link-a', both);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`kept an unpacked copy of ${keys.both}`);
    expect(trees().sort()).toEqual(a.layers!.map((layer) => layer.sha256).sort());
    const second = await link('link-b', demo);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/unpack: 1 of 5 layers \([\d.]+ [KM]iB\) from .*, verified, 4 linked from the cache;/);
    // One tree per layer for both keys: the second added only its environment layer's.
    expect(trees()).toHaveLength(7);
    const script = path.join('lib', 'python3.11', 'site-packages', 'terra_demo', '__init__.py');
    const shared = path.join(cache, 'trees', layerOf(a, 'terra_demo').sha256, script);
    expect(statSync(path.join(box.path('link-b'), script)).ino).toBe(statSync(shared).ino);
    expect(statSync(path.join(box.path('link-a'), script)).ino).toBe(statSync(shared).ino);
    const repeat = await link('link-c', demo);
    expect(repeat.stderr).toMatch(/link: .* files in 5 trees from the cache/);
    for (const env of ['link-a', 'link-b', 'link-c'])
      expect((await box.exec(box.path(env, 'bin', 'terra-demo'), [])).stdout).toBe(`hello, terrarium\n${box.path(env)}\n`);
    // Removing the first key's copy removes the trees only it had; the shared ones stay for the second.
    expect((await box.main(['--cache-dir', cache, 'cache', 'clean', keys.both])).code).toBe(0);
    expect(trees().sort()).toEqual(b.layers!.map((layer) => layer.sha256).sort());
    expect((await link('link-d', demo)).stderr).toMatch(/from unpacked copy in the cache/);
    // A shared tree damaged: the restore that links it drops it and starts again from the store.
    rmSync(shared);
    rmSync(path.join(cache, 'unpacked', `${keys.demo}.json`));
    const healed = await link('link-e', demo);
    expect(healed.code, healed.stderr).toBe(0);
    expect(healed.stderr).toMatch(/unpacked tree [0-9a-f]{16} in the cache: .*ENOENT.*\(dropped it\); restoring \S+ from .* instead/);
    expect((await box.exec(box.path('link-e', 'bin', 'terra-demo'), [])).code).toBe(0);
    expect(existsSync(shared), 'the tree is unpacked again').toBe(true);
    // cache verify reads every tree once, and names the one that differs.
    writeFileSync(shared, 'changed');
    const verify = await box.main(['--cache-dir', cache, 'cache', 'verify']);
    expect(verify.code).toBe(EXIT.archive);
    expect(verify.stdout).toMatch(new RegExp(`dropped  unpacked copy +${keys.demo}: tree ${layerOf(b, 'terra_demo').sha256.slice(0, 16)}: .*changed`));
  });

  it('a damaged layer: a rebuild replaces it; a restore refuses it, naming it and the store, the environment in place untouched, the blob removed', async () => {
    const store = copyStore('damaged-store');
    const layer = layerOf(record(store, keys.demo), 'terra_dep');
    const blob = path.join(store, blobName(layer.sha256));
    const target = box.path('kept');
    expect((await box.main(dir(store, '-t', target, 'install', both.name))).code).toBe(0);
    const state = envState(target);
    const damaged = readFileSync(blob);
    damaged[damaged.length >> 1] ^= 0xff;
    writeFileSync(blob, damaged);
    // Publishing the rebuild finds the blob in the store not what its name says, and replaces it.
    const healed = await box.main(dir(store, '--format', '2', '--no-download', '-t', box.path('healed'), 'install', demo.name));
    expect(healed.code, healed.stderr).toBe(0);
    expect(createHash('sha256').update(readFileSync(blob)).digest('hex')).toBe(layer.sha256);
    writeFileSync(blob, damaged);
    const refused = await box.main(dir(store, '--require-download', '-t', target, 'install', demo.name));
    expect(refused.code).toBe(EXIT.archive);
    // zstd's own checksum finds it first.
    expect(refused.stderr).toContain(`layer terra_dep-1.0 (${layer.sha256.slice(0, 16)}): archive cannot be unpacked: Restored data doesn't match checksum`);
    expect(refused.stderr).toContain(box.shown(store));
    expect(envState(target)).toBe(state);
    expect(existsSync(blob)).toBe(false);
  });

  it('a missing layer is a miss that names it', async () => {
    const store = copyStore('missing-store');
    const layer = layerOf(record(store, keys.both), 'terra_cext');
    rmSync(path.join(store, blobName(layer.sha256)));
    const result = await box.main(dir(store, '--require-download', '-t', box.path('never'), 'install', both.name));
    expect(result.code).toBe(EXIT.archive);
    expect(result.stderr).toContain(`layer terra_cext-1.0 (${layer.sha256.slice(0, 16)}) its record names is missing`);
    expect(existsSync(box.path('never'))).toBe(false);
  });

  /** Replaces a layer of the record with one made of `entries`, with the record's digests made to match, as someone who can write the store would. */
  async function plantLayer(
    store: string,
    key: string,
    name: string,
    entries: Array<tar.Headers & { body?: string }>,
    claimed?: Partial<Layer>,
  ): Promise<void> {
    const pack = tar.pack();
    for (const { body, ...header } of entries) pack.entry({ type: 'file', mode: 0o644, ...header }, body ?? '');
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    const bytes = await zstdCompress(Buffer.concat(chunks));
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(path.join(store, blobName(sha256)), bytes);
    const r = record(store, key);
    // Listed without tree digests (a document of version 1), as a writer of the store can list them.
    const layers: Layer[] = r.layers!.map(({ tree: _, provenance: __, ...layer }) =>
      layer.name.startsWith(name)
        ? { name: layer.name, sha256, size: bytes.length, unpackedSize: Buffer.concat(chunks).length, entries: entries.length, ...claimed }
        : layer,
    );
    const sum = (field: 'size' | 'unpackedSize' | 'entries') => layers.reduce((total, layer) => total + layer[field], 0);
    const planted = { ...r, layers, sha256: layersDigest(layers), size: sum('size'), unpackedSize: sum('unpackedSize'), entries: sum('entries') };
    writeFileSync(path.join(store, `${key}.json`), JSON.stringify(planted));
  }

  it.each<[string, Array<tar.Headers & { body?: string }>, string, Partial<Layer>?]>([
    ['a path climbing out', [{ name: '../../evil-layer', body: 'x' }], '".." in path'],
    [
      'a symlink out, then a file through it',
      [
        { name: 'lib/out', type: 'symlink', linkname: '../../..' },
        { name: 'lib/out/evil', body: 'x' },
      ],
      'symlink',
    ],
    ['a file another layer has', [{ name: 'pyvenv.cfg', body: 'home = /tmp\n' }], 'the same path twice'],
    ['a setuid file', [{ name: 'bin/tool', mode: 0o4755, body: 'x' }], 'setuid'],
    ['more than its record says', [{ name: 'lib/big', body: 'x'.repeat(1 << 16) }], 'more than its record says', { unpackedSize: 10 }],
  ])('a hostile layer (%s) is refused and nothing is installed', async (_, entries, why, claimed) => {
    const store = copyStore(`hostile-${why.replace(/\W+/g, '-')}`);
    await plantLayer(store, keys.demo, 'terra_dep', entries, claimed);
    const result = await box.main(dir(store, '--require-download', '-t', box.path('hostile', 'env'), 'install', demo.name));
    expect(result.code).toBe(EXIT.archive);
    expect(result.stderr).toContain(why);
    expect(existsSync(box.path('hostile', 'env'))).toBe(false);
    expect(existsSync(box.path('evil-layer'))).toBe(false);
  });

  it.each<[string, (layers: Layer[], good: Layer) => Layer[], string]>([
    ['fewer entries than it has', (layers, good) => layers.map((layer) => (layer === good ? { ...layer, entries: 1 } : layer)), 'more than its record says'],
    ['listed twice', (layers, good) => [...layers, good], 'the same path twice'],
  ])('a record that lies about a good layer (%s) is refused, and the blob the other key names stays', async (_, lie, why) => {
    const store = copyStore(`lying-${why.replace(/\W+/g, '-')}`);
    const honest = record(store, keys.demo);
    const good = layerOf(honest, 'terra_dep');
    const layers = lie(honest.layers!, good);
    const sum = (field: 'size' | 'unpackedSize' | 'entries') => layers.reduce((total, layer) => total + layer[field], 0);
    const lying = { ...honest, layers, sha256: layersDigest(layers), size: sum('size'), unpackedSize: sum('unpackedSize'), entries: sum('entries') };
    writeFileSync(path.join(store, `${keys.demo}.json`), JSON.stringify(lying));
    const refused = await box.main(dir(store, '--require-download', '-t', box.path('lied-to'), 'install', demo.name));
    expect(refused.code).toBe(EXIT.archive);
    expect(refused.stderr).toContain(why);
    expect(existsSync(path.join(store, blobName(good.sha256)))).toBe(true);
    const other = await box.main(dir(store, '--require-download', '-t', box.path('lied-to-other'), 'install', both.name));
    expect(other.code, other.stderr).toBe(0);
  });

  it('signed: the signature covers every layer, so a layer swapped with its digests rewritten is refused', async () => {
    const store = copyStore('signed-store');
    const trusting = (target: string) =>
      box.main(dir(store, '--require-download', '--trust-key', `${signer}.pub`, '-t', box.path(target), 'install', demo.name));
    const trusted = await trusting('signed-ok');
    expect(trusted.code, trusted.stderr).toBe(0);
    expect(trusted.stderr, trusted.stderr).toMatch(/verified and signed by [0-9A-F]{1,16}/);
    // inspect and exists hold a layered archive's signature to its layers too.
    const inspect = await box.main(['--storage-dir', store, '--trust-key', `${signer}.pub`, 'inspect', keys.demo]);
    expect(inspect.stdout).toMatch(/^signed {8}by key [0-9A-F]{1,16} \("terrarium-archive key=.*"\): trusted$/m);
    expect((await box.main(['--storage-dir', store, '--trust-key', `${signer}.pub`, 'exists', demo.name])).code).toBe(0);
    const signature = readdirSync(store).find((name) => name.endsWith('.minisig'))!;
    await plantLayer(store, keys.demo, 'terra_dep', [{ name: 'lib/python3.11/site-packages/terra_dep/__init__.py', body: 'print("planted")\n' }]);
    // The attacker puts the genuine signature where the planted record's would be.
    cpSync(path.join(store, signature), path.join(store, signatureName(record(store, keys.demo))));
    const refused = await trusting('signed-planted');
    expect(refused.code).toBe(EXIT.archive);
    expect(refused.stderr, refused.stderr).toContain('not for this key and sha256');
    expect(existsSync(box.path('signed-planted'))).toBe(false);
  });

  it('prune deletes archives, then only the layers no archive left names, and spares new ones a publisher may be about to name', async () => {
    const store = copyStore('pruned-store');
    const a = record(store, keys.both);
    const b = record(store, keys.demo);
    const orphan = path.join(store, blobName('0'.repeat(64)));
    writeFileSync(orphan, 'a publisher is uploading');
    for (const sha256 of blobs(store)) if (sha256 !== '0'.repeat(64)) utimesSync(path.join(store, blobName(sha256)), new Date(0), new Date(0));
    const doomed = a.created < b.created ? keys.both : keys.demo;
    const kept = doomed === keys.both ? b : a;
    const pruned = await box.main(['--storage-dir', store, '--json', 'prune', '--keep', '1']);
    expect(pruned.code, pruned.stderr).toBe(0);
    const report = JSON.parse(pruned.stdout) as { deleted: Array<{ key: string }>; layers: Array<{ sha256: string }> };
    expect(report.deleted.map((d) => d.key)).toEqual([doomed]);
    const keptLayers = new Set(kept.layers!.map((layer) => layer.sha256));
    const gone = [...new Set([...a.layers!, ...b.layers!].map((layer) => layer.sha256))].filter((sha256) => !keptLayers.has(sha256));
    expect(report.layers.map((layer) => layer.sha256).sort()).toEqual(gone.sort());
    expect(blobs(store)).toEqual([...keptLayers, '0'.repeat(64)].sort());
    const restored = await box.main(dir(store, '--require-download', '-t', box.path('after-prune'), 'install', kept.key === keys.both ? both.name : demo.name));
    expect(restored.code, restored.stderr).toBe(0);
  });

  it('a store holding format 1 and format 2 archives serves both', async () => {
    const store = copyStore('mixed-store');
    const dep = await box.seed('dep', store, 1);
    box.write('dep.txt', 'terra-dep\n');
    const ls = await box.main(['--storage-dir', store, 'ls']);
    expect(ls.stdout).toContain(dep);
    for (const [file, target] of [
      ['dep.txt', 'mixed-1'],
      [demo.name, 'mixed-2'],
    ] as const) {
      const result = await box.main(dir(store, '--require-download', '-t', box.path(target), 'install', file));
      expect(result.code, result.stderr).toBe(0);
    }
  });

  it('in S3: one object per layer for both keys, a restore from them, and prune by reference in the bucket', async () => {
    const a = record(box.store, keys.both);
    const b = record(box.store, keys.demo);
    const union = [...new Set([...a.layers!, ...b.layers!].map((layer) => layer.sha256))].sort();
    expect((await s3.keys('envs/blobs/sha256/')).map((name) => name.slice('envs/blobs/sha256/'.length))).toEqual(union);
    const restored = await box.main(['--no-cache', '--require-download', '-t', box.path('s3-restored'), 'install', demo.name], s3Env());
    expect(restored.code, restored.stderr).toBe(0);
    expect((await box.exec(box.path('s3-restored', 'bin', 'terra-demo'), [])).stdout).toContain('hello, terrarium');
    // Prune by reference in the bucket: the older key goes, then the layers only it named.
    const pruned = await box.main(['--json', 'prune', '--keep', '1', '--layer-grace', '0s'], s3Env());
    expect(pruned.code, pruned.stderr).toBe(0);
    const gone = (JSON.parse(pruned.stdout) as { deleted: Array<{ key: string }> }).deleted.map((d) => d.key);
    expect(gone).toHaveLength(1);
    const left = JSON.parse((await s3.get(`envs/${gone[0] === keys.both ? keys.demo : keys.both}.json`)).toString()) as ArchiveRecord;
    const stored = (await s3.keys('envs/blobs/sha256/')).map((name) => name.slice('envs/blobs/sha256/'.length));
    expect(stored.sort()).toEqual(left.layers!.map((layer) => layer.sha256).sort());
  });
});
