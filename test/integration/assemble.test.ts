import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layersDigest } from '../../src/archive/layers.js';
import { provenanceId } from '../../src/archive/provenance.js';
import { formatIndex, indexName } from '../../src/stores/layer-index.js';
import type { ArchiveRecord } from '../../src/stores/store.js';
import { readEntries, tarOf } from '../helpers/archive-edit.js';
import { Sandbox } from '../helpers/cli.js';
import { leftoversIn } from '../helpers/env-state.js';
import { DirectoryServer } from '../helpers/http-server.js';
import { interpreters, python3 } from '../helpers/python.js';
import { ACCESS_KEY, BUCKET, S3TestServer, SECRET_KEY } from '../helpers/s3.js';
import { SimpleIndex } from '../helpers/simple-index.js';
import { zstdCompress } from '../helpers/zstd.js';

/**
 * Every file of an environment (relative path) with its bytes' sha256, its own path read as ROOT; the
 * RECORD rows of console scripts aside (their hashes are of the build path).
 */
function files(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(root, { recursive: true, encoding: 'utf8' })) {
    if (name.startsWith('.terrarium') || name.startsWith('lib64') || /(^|\/)__pycache__\//.test(name)) continue;
    const file = path.join(root, name);
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch {
      continue; // a folder
    }
    const text = name.endsWith('/RECORD')
      ? bytes.toString('utf8').replace(/^\.\.\/\.\.\/\.\.\/bin\/.*$/gm, 'script')
      : bytes.toString('latin1').replaceAll(root, 'ROOT').replaceAll(path.basename(root), 'NAME');
    out.set(name, createHash('sha256').update(text).digest('hex'));
  }
  return out;
}

/** A miss assembled from the layers another key published: the same environment a full build makes, pip run only for the rest. */
describe('assembling a miss from stored layers', () => {
  const box = new Sandbox();
  const a = 'terra-demo\nterra-dep==1.0\n';
  const record = (store: string, key: string) => JSON.parse(readFileSync(path.join(store, `${key}.json`), 'utf8')) as ArchiveRecord;
  const wheel = (prefix: string) => path.join(box.wheels, readdirSync(box.wheels).find((name) => name.startsWith(prefix))!);
  const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
  const freeze = (env: string) => execFileSync(path.join(env, 'bin', 'python'), ['-m', 'pip', 'freeze'], { encoding: 'utf8', env: box.env });
  const json = (stdout: string) => JSON.parse(stdout) as { assembled: { reused: string[]; installedByPip: number } | null };
  const signer = box.path('builder.key');
  let keyA = '';

  beforeAll(async () => {
    // A second version of terra-dep, beside the tests' wheels.
    execFileSync(python3(), [
      '-c',
      `import sys; sys.path.insert(0, ${JSON.stringify(path.resolve('examples/wheels'))}); import build_wheels as b; b.write_wheel(${JSON.stringify(box.wheels)}, 'terra-dep', '2.0', 'py2.py3-none-any', {'terra_dep/__init__.py': 'def greet(name):\\n    return "hi, %s" % name\\n'}, [], {}, 'true')`,
    ]);
    expect((await box.main(['keygen', signer])).code).toBe(0);
    box.write('a.txt', a);
    const built = await box.main(['--storage-dir', box.store, '--no-cache', '--sign-key', signer, '-t', box.path('a'), 'install', 'a.txt']);
    expect(built.code, built.stderr).toBe(0);
    keyA = (await box.main(['key', 'a.txt'])).stdout.trim();
    // Every distribution pip installed from a wheel, and what the seeding installed from the interpreter's own wheels.
    const provenanced = record(box.store, keyA)
      .layers!.filter((layer) => layer.provenance)
      .map((layer) => layer.name);
    expect(provenanced.filter((name) => !name.startsWith('setuptools-'))).toEqual([expect.stringMatching(/^pip-/), 'terra_demo-1.0', 'terra_dep-1.0']);
  }, 120_000);
  afterAll(() => box.cleanup());

  /** B assembled from the store (a cache that never saw A) and built in full elsewhere: the same environment. */
  async function assembleAndCompare(name: string, text: string, expected: { reused: string[]; pip: number }, extra: string[] = []) {
    box.write(`${name}.txt`, text);
    const store = box.path(`store-${name}`);
    cpSync(box.store, store, { recursive: true });
    const assembled = await box.main(['--storage-dir', store, '--no-cache', '--json', ...extra, '-t', box.path(`${name}-assembled`), 'install', `${name}.txt`]);
    expect(assembled.code, assembled.stderr).toBe(0);
    expect(json(assembled.stdout).assembled).toEqual({ reused: expected.reused, installedByPip: expected.pip });
    expect(assembled.stderr).not.toMatch(/not reusing|building in full/);
    const full = await box.main(['--storage-dir', box.path(`full-${name}`), '--no-cache', '-t', box.path(`${name}-full`), 'install', `${name}.txt`]);
    expect(full.code, full.stderr).toBe(0);
    expect(full.stderr).not.toMatch(/assembled/);
    const [one, other] = [box.path(`${name}-assembled`), box.path(`${name}-full`)];
    expect(freeze(one)).toBe(freeze(other));
    expect(files(one)).toEqual(files(other));
    const key = (await box.main(['key', `${name}.txt`])).stdout.trim();
    // Every distribution's layer is the one a full build publishes: only the environment's layer is new.
    const layers = (r: ArchiveRecord) => r.layers!.slice(1).map((layer) => `${layer.name} ${layer.sha256}`);
    expect(layers(record(store, key))).toEqual(layers(record(box.path(`full-${name}`), key)));
    execFileSync(path.join(one, 'bin', 'python'), ['-m', 'pip', 'check'], { env: box.env });
    return { one, assembled };
  }

  it('adds a package: the two stored layers are reused and pip installs one, the result is a full build', async () => {
    const { one, assembled } = await assembleAndCompare('plus', `${a}terra-pth\n`, { reused: ['terra_demo-1.0', 'terra_dep-1.0'], pip: 1 });
    expect(assembled.stderr).toMatch(/built \S+ \(assembled from 2 stored layers, 1 installed by pip\)/);
    expect(execFileSync(path.join(one, 'bin', 'terra-demo'), { encoding: 'utf8' })).toContain('hello, terrarium');
    // A reused distribution's RECORD lists every file it installed: pip uninstalls it whole.
    execFileSync(path.join(one, 'bin', 'python'), ['-m', 'pip', 'uninstall', '-y', 'terra-demo'], { env: box.env });
    expect(existsSync(path.join(one, 'bin', 'terra-demo'))).toBe(false);
    expect(
      readdirSync(path.join(one, 'lib'))
        .flatMap((py) => readdirSync(path.join(one, 'lib', py, 'site-packages')))
        .filter((n) => n.startsWith('terra_demo')),
    ).toEqual([]);
  });

  it('changes a version and removes a package: what is stored is reused, pip installs only the new version', async () => {
    await assembleAndCompare('bumped', 'terra-demo\nterra-dep==2.0\n', { reused: ['terra_demo-1.0'], pip: 1 });
    await assembleAndCompare('fewer', 'terra-dep==1.0\n', { reused: ['terra_dep-1.0'], pip: 0 });
  });

  it('takes a lock exactly, with trusted keys from a signed record', async () => {
    const lines = [
      ['terra-demo', 'terra_demo-1.0'],
      ['terra-dep', 'terra_dep-1.0'],
      ['terra-pth', 'terra_pth-1.0'],
    ].map(([dist, file]) => `${dist}==1.0 --hash=sha256:${sha(wheel(file!))}`);
    await assembleAndCompare('locked', `${lines.join('\n')}\n`, { reused: ['terra_demo-1.0', 'terra_dep-1.0'], pip: 1 }, [
      '--trust-key',
      `${signer}.pub`,
      '--sign-key',
      signer,
    ]);
  });

  it('fails the build when pip fails for the rest as the layers are read, and leaves the target as it was', async () => {
    const target = box.path('pip-fails');
    expect((await box.main(['--storage-dir', box.store, '--no-cache', '-t', target, 'install', 'a.txt'])).code).toBe(0);
    const before = freeze(target);
    // terra-pth's hash is another wheel's: pip refuses it while the two stored layers are read (its exit code is terrarium's).
    const lines = [
      ['terra-demo', 'terra_demo-1.0'],
      ['terra-dep', 'terra_dep-1.0'],
      ['terra-pth', 'terra_dep-2.0'],
    ].map(([dist, file]) => `${dist}==1.0 --hash=sha256:${sha(wheel(file!))}`);
    box.write('pip-fails.txt', `${lines.join('\n')}\n`);
    const result = await box.main(['--storage-dir', box.store, '--no-cache', '-t', target, 'install', 'pip-fails.txt']);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/pip install failed/);
    expect(result.stderr).not.toMatch(/building in full/);
    expect(freeze(target)).toBe(before);
    expect(leftoversIn(path.dirname(target)).filter((name) => name.startsWith('.pip-fails.'))).toEqual([]);
  });

  it('reuses nothing from a record no trusted key signed, and nothing with --no-assemble', async () => {
    box.write('plus2.txt', `${a}terra-pth\n`);
    const unsigned = box.path('store-unsigned');
    const built = await box.main(['--storage-dir', unsigned, '--no-cache', '-t', box.path('unsigned-a'), 'install', 'a.txt']);
    expect(built.code, built.stderr).toBe(0);
    const assembledBy = async (store: string, target: string, ...extra: string[]) => {
      const result = await box.main(['--storage-dir', store, '--no-cache', '--json', ...extra, '-t', box.path(target), 'install', 'plus2.txt']);
      expect(result.code, result.stderr).toBe(0);
      return json(result.stdout).assembled;
    };
    expect(await assembledBy(unsigned, 'u1', '--trust-key', `${signer}.pub`)).toBeNull();
    expect(await assembledBy(box.store, 'u2', '--no-assemble', '--no-upload')).toBeNull();
  });

  it('holds a layer to what was resolved: a record lying about its provenance gets pip, not a wrong environment', async () => {
    const store = box.path('store-lying');
    cpSync(box.store, store, { recursive: true });
    // The unsigned record of A now says its terra-dep 1.0 layer is terra-dep 2.0, and the index points there.
    const lying = record(store, keyA);
    const layer = lying.layers!.find((l) => l.name === 'terra_dep-1.0')!;
    layer.provenance = { ...layer.provenance!, version: '2.0', artifact: sha(wheel('terra_dep-2.0')) };
    lying.sha256 = layersDigest(lying.layers!);
    writeFileSync(path.join(store, `${keyA}.json`), JSON.stringify(lying));
    const id = provenanceId(layer.provenance);
    writeFileSync(path.join(store, indexName(id)), formatIndex([{ key: keyA, layer: layer.sha256 }]));
    box.write('two.txt', 'terra-dep==2.0\n');
    const result = await box.main(['--storage-dir', store, '--no-cache', '-t', box.path('lied-to'), 'install', 'two.txt']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/not reusing terra_dep-1\.0 from .*: it installs terra-dep 1\.0, not terra-dep 2\.0; pip installs it/);
    expect(freeze(box.path('lied-to'))).toMatch(/^terra-dep==2\.0$/m);
  });

  it("takes a seeded distribution's bytecode only from a layer of the very files the seeding wrote", async () => {
    const store = box.path('store-seeded');
    cpSync(box.store, store, { recursive: true });
    // pip's layer in A, one of its sources changed (its bytecode, which would run, left as it is) and
    // bytecode of its own added, planted under a new digest.
    const forged = record(store, keyA);
    const layer = forged.layers!.find((l) => l.name.startsWith('pip-'))!;
    const entries = await readEntries(path.join(store, 'blobs', 'sha256', layer.sha256));
    const changed = entries.find((entry) => entry.header.name.endsWith('/pip/__init__.py'))!;
    const added = Buffer.from('# not as seeded\n');
    changed.body = Buffer.concat([changed.body, added]);
    const bytecode = entries.find((entry) => entry.header.name.endsWith('.pyc'))!;
    const stray = { header: { ...bytecode.header, name: bytecode.header.name.replace(/[^/]+$/, 'forged.cpython-311.pyc') }, body: bytecode.body };
    entries.push(stray);
    for (const counts of [layer, forged]) {
      counts.unpackedSize += added.length + stray.body.length;
      counts.entries += 1;
    }
    const blob = await zstdCompress(await tarOf(entries));
    forged.size += blob.length - layer.size;
    Object.assign(layer, { sha256: createHash('sha256').update(blob).digest('hex'), size: blob.length });
    writeFileSync(path.join(store, 'blobs', 'sha256', layer.sha256), blob);
    forged.sha256 = layersDigest(forged.layers!);
    writeFileSync(path.join(store, `${keyA}.json`), JSON.stringify(forged));
    writeFileSync(path.join(store, indexName(provenanceId(layer.provenance!))), formatIndex([{ key: keyA, layer: layer.sha256 }]));
    box.write('seeded.txt', `${a}terra-pth\n`);
    const result = await box.main(['--storage-dir', store, '--no-cache', '-t', box.path('seeded'), 'install', 'seeded.txt']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/not reusing pip-[^ ]+ from .*pip\/__init__\.py is not as the seeding installed it/);
    const site = path.join(box.path('seeded'), 'lib', readdirSync(path.join(box.path('seeded'), 'lib'))[0]!, 'site-packages');
    expect(readFileSync(path.join(site, 'pip', '__init__.py'), 'utf8')).not.toMatch(/not as seeded/);
    // Nothing of the refused layer is moved in, its bytecode included.
    expect(existsSync(path.join(box.path('seeded'), stray.header.name))).toBe(false);
    execFileSync(path.join(box.path('seeded'), 'bin', 'python'), ['-m', 'pip', '--version'], { env: box.env });
  });

  const old = interpreters().find((i) => i.version === '3.8' && i.name.startsWith('pyenv'));
  it.runIf(old)('on Python before 3.9 records no provenance and builds every miss in full (its layers differ between builds)', async () => {
    const store = box.path('store-38');
    const python = ['--python', old!.python, '--storage-dir', store, '--no-cache'];
    const first = await box.main([...python, '-t', box.path('old-a'), 'install', 'a.txt']);
    expect(first.code, first.stderr).toBe(0);
    const key = (await box.main(['--python', old!.python, 'key', 'a.txt'])).stdout.trim();
    expect(record(store, key).layers!.filter((layer) => layer.provenance)).toEqual([]);
    box.write('old-plus.txt', `${a}terra-pth\n`);
    const second = await box.main([...python, '--json', '-t', box.path('old-b'), 'install', 'old-plus.txt']);
    expect(second.code, second.stderr).toBe(0);
    expect(json(second.stdout).assembled).toBeNull();
  });

  it('builds in full when a stored layer is damaged, and the store gets the layer back as it should be', async () => {
    const store = box.path('store-damaged');
    cpSync(box.store, store, { recursive: true });
    const layer = record(store, keyA).layers!.find((l) => l.name === 'terra_dep-1.0')!;
    const blob = path.join(store, 'blobs', 'sha256', layer.sha256);
    const bytes = readFileSync(blob);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(blob, bytes);
    box.write('damaged.txt', `${a}terra-pth\n`);
    const result = await box.main(['--storage-dir', store, '--no-cache', '--json', '-t', box.path('damaged'), 'install', 'damaged.txt']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/building in full: .*terra_dep-1\.0/);
    expect(json(result.stdout).assembled).toBeNull();
    expect(freeze(box.path('damaged'))).toMatch(/^terra-dep==1\.0$/m);
    // Published again by this build, from its own files: the store holds the layer's true bytes once more.
    expect(createHash('sha256').update(readFileSync(blob)).digest('hex')).toBe(layer.sha256);
  });

  it("asks pip's index only for the wheel of what changed, given a lock", async () => {
    const index = new SimpleIndex(box.wheels);
    const url = await index.start();
    try {
      const lines = [
        ['terra-demo', 'terra_demo-1.0'],
        ['terra-dep', 'terra_dep-1.0'],
        ['terra-pth', 'terra_pth-1.0'],
      ].map(([dist, file]) => `${dist}==1.0 --hash=sha256:${sha(wheel(file!))}`);
      box.write('indexed.txt', `${lines.join('\n')}\n`);
      const store = box.path('store-indexed');
      cpSync(box.store, store, { recursive: true });
      const fromIndex = { PIP_NO_INDEX: '0', PIP_FIND_LINKS: '', PIP_INDEX_URL: url };
      const result = await box.main(['--storage-dir', store, '--no-cache', '--json', '-t', box.path('indexed'), 'install', 'indexed.txt'], fromIndex);
      expect(result.code, result.stderr).toBe(0);
      expect(json(result.stdout).assembled).toEqual({ reused: ['terra_demo-1.0', 'terra_dep-1.0'], installedByPip: 1 });
      expect(index.wheelsFetched()).toEqual([path.basename(wheel('terra_pth-1.0'))]);
    } finally {
      await index.stop();
    }
  });

  it('in S3: a publish writes the index, a miss on another machine assembles from the bucket, prune keeps the index true', async () => {
    const s3 = new S3TestServer();
    await s3.start();
    try {
      const env = { S3_BUCKET: BUCKET, S3_ACCESS_KEY: ACCESS_KEY, S3_SECRET_KEY: SECRET_KEY, S3_ENDPOINT: s3.endpoint, S3_PREFIX: 'envs/', S3_PATH_STYLE: '1' };
      const first = await box.main(['--no-cache', '-t', box.path('s3-a'), 'install', 'a.txt'], env);
      expect(first.code, first.stderr).toBe(0);
      const entries = () => s3.keys('envs/blobs/provenance/');
      expect(await entries()).toHaveLength(record(box.store, keyA).layers!.filter((layer) => layer.provenance).length);
      box.write('s3-plus.txt', `${a}terra-pth\n`);
      const second = await box.main(['--cache-dir', box.path('s3-cache'), '--json', '-t', box.path('s3-b'), 'install', 's3-plus.txt'], env);
      expect(second.code, second.stderr).toBe(0);
      expect(json(second.stdout).assembled).toEqual({ reused: ['terra_demo-1.0', 'terra_dep-1.0'], installedByPip: 1 });
      // terra-pth's layer is new: its entry names the second key; the others name both, the newest first.
      const keyB = (await box.main(['key', 's3-plus.txt'])).stdout.trim();
      const texts = await Promise.all((await entries()).map(async (name) => (await s3.get(name)).toString()));
      expect(texts.filter((text) => text.includes(keyB))).toHaveLength(texts.length);
      // The cache keeps an index too (it is a store this machine reads first), emptied with what it names.
      const cacheIndex = () =>
        readdirSync(box.path('s3-cache'), { recursive: true, encoding: 'utf8' }).filter((name) => name.includes(`provenance${path.sep}`));
      expect(cacheIndex().length).toBeGreaterThan(0);
      expect((await box.main(['--cache-dir', box.path('s3-cache'), 'cache', 'clean'])).code).toBe(0);
      expect(cacheIndex()).toEqual([]);
      const pruned = await box.main(['prune', '--keep', '1', '--layer-grace', '0s'], env);
      expect(pruned.code, pruned.stderr).toBe(0);
      const after = await Promise.all((await entries()).map(async (name) => (await s3.get(name)).toString()));
      expect(after.join('')).not.toContain(keyA);
      expect(after.every((text) => text.includes(keyB))).toBe(true);
    } finally {
      await s3.stop();
    }
  });

  it('reads one index entry per distribution however many records the store holds, and prune keeps the index true', async () => {
    const store = box.path('store-many');
    cpSync(box.store, store, { recursive: true });
    const original = readFileSync(path.join(store, `${keyA}.json`), 'utf8');
    for (let i = 0; i < 200; i++) writeFileSync(path.join(store, `other-${i}.json`), original.replaceAll(keyA, `other-${i}`));
    const server = new DirectoryServer(store);
    const url = await server.start();
    try {
      box.write('many.txt', `${a}terra-pth\n`);
      const result = await box.main(['--storage-url', url, '--no-cache', '--json', '-t', box.path('many'), 'install', 'many.txt']);
      expect(result.code, result.stderr).toBe(0);
      expect(json(result.stdout).assembled?.reused).toHaveLength(2);
      const records = server.requests.filter((request) => request.endsWith('.json'));
      expect(records.filter((request) => request.includes('other-'))).toEqual([]);
      // One index entry for each of the three distributions and the two the seeding installed.
      expect(server.requests.filter((request) => request.includes('/blobs/provenance/')).length).toBeLessThanOrEqual(5);
    } finally {
      await server.stop();
    }
    const entries = () => readdirSync(path.join(store, 'blobs', 'provenance')).map((id) => readFileSync(path.join(store, 'blobs', 'provenance', id), 'utf8'));
    expect(entries().join('')).toContain(keyA);
    const pruned = await box.main(['--storage-dir', store, 'prune', '--keep', '0', '--layer-grace', '0s']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(readdirSync(path.join(store, 'blobs', 'provenance'))).toEqual([]);
    expect(entries()).toEqual([]);
  });
});
