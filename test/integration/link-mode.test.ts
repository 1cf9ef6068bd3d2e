import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.js';
import { leftoversIn } from '../helpers/env-state.js';

const SITE_FILE = /^lib\/python3\.\d+\/site-packages\/terra_demo\/__init__\.py$/;

/**
 * The unpacked copy of the one key in this cache: its first tree (the one with the manifest: a format 1
 * archive's, or a layered one's environment layer) as `dir` and `index`, and where each entry is.
 */
function unpacked(cache: string): { dir: string; index: string; file: (pattern: RegExp) => string; at: (rel: string) => string } {
  const root = path.join(cache, 'unpacked');
  const key = readdirSync(root).find((name) => name.endsWith('.json'));
  expect(key, `an unpacked copy in ${root}`).toBeDefined();
  const { sha256, layers } = JSON.parse(readFileSync(path.join(root, key!), 'utf8')) as { sha256: string; layers?: Array<{ sha256: string }> };
  const trees = (layers?.map((layer) => layer.sha256) ?? [sha256]).map((tree) => path.join(cache, 'trees', tree));
  const where = new Map<string, string>();
  for (const dir of trees)
    for (const entry of (JSON.parse(readFileSync(`${dir}.json`, 'utf8')) as { entries: Array<{ path: string }> }).entries) where.set(entry.path, dir);
  return {
    dir: trees[0]!,
    index: `${trees[0]!}.json`,
    file: (pattern) => [...where.keys()].find((rel) => pattern.test(rel))!,
    at: (rel) => path.join(where.get(rel)!, rel),
  };
}

const listed = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

async function works(box: Sandbox, env: string): Promise<void> {
  const demo = await box.exec(path.join(env, 'bin', 'terra-demo'), []);
  expect(demo.stdout, `${env}/bin/terra-demo`).toBe(`hello, terrarium\n${env}\n`);
  const cext = await box.exec(path.join(env, 'bin', 'python'), ['-c', 'import sys, terra_cext; print(terra_cext.add(2, 3), sys.prefix)']);
  expect(cext.stdout).toBe(`5 ${env}\n`);
}

describe('link mode: repeat installs link from an unpacked copy in the cache', () => {
  const box = new Sandbox();
  const cache = box.path('cache');
  const args = (...rest: string[]) => ['-V', '--storage-dir', box.store, '--cache-dir', cache, ...rest];
  let first: Awaited<ReturnType<Sandbox['terrarium']>>;
  let second: Awaited<ReturnType<Sandbox['terrarium']>>;

  beforeAll(async () => {
    box.write('requirements.txt', 'terra-demo\nterra-cext\n');
    await box.seed('demo-cext');
    // Every later install must come from the archive or the cache: pip has nothing to install from.
    rmSync(box.wheels, { recursive: true });
    first = await box.terrarium(args('-t', box.path('first'), 'install', 'requirements.txt'));
    second = await box.terrarium(args('-t', box.path('second env'), 'install', 'requirements.txt'));
  });
  afterAll(() => box.cleanup());

  it('the first install unpacks the archive and keeps a copy; the second links from it', async () => {
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('kept an unpacked copy of');
    expect(first.stderr).toMatch(/restored \S+ from .*store at/);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/restored \S+ from unpacked copy in the cache .* \((clone|hardlink)\) at/);
    await works(box, box.path('first'));
    await works(box, box.path('second env'));
  });

  it('shares unchanged files with the cache and writes relocated ones anew, leaving the cache as archived', () => {
    const tree = unpacked(cache);
    const site = tree.file(SITE_FILE);
    const target = box.path('second env');
    expect(statSync(path.join(target, site)).ino).toBe(statSync(tree.at(site)).ino);
    for (const relocated of ['bin/terra-demo', 'bin/activate', 'pyvenv.cfg']) {
      expect(statSync(path.join(target, relocated)).nlink, relocated).toBe(1);
      expect(statSync(path.join(target, relocated)).ino).not.toBe(statSync(tree.at(relocated)).ino);
    }
    expect(readFileSync(tree.at('bin/terra-demo'), 'utf8')).not.toContain(target);
    expect(readFileSync(path.join(target, 'bin', 'terra-demo'), 'utf8')).toContain(target);
    expect(existsSync(path.join(tree.dir, 'bin', 'python')), 'the interpreter links are made per install').toBe(false);
    expect(leftoversIn(path.join(cache, 'unpacked'))).toEqual([]);
    expect(leftoversIn(path.join(cache, 'trees'))).toEqual([]);
  });

  it('--link-mode copy shares nothing with the cache', async () => {
    const result = await box.terrarium(args('--link-mode', 'copy', '-t', box.path('copied'), 'install', 'requirements.txt'));
    expect(result.stderr).toMatch(/from unpacked copy in the cache .* \(copy\)/);
    const tree = unpacked(cache);
    const site = tree.file(SITE_FILE);
    expect(statSync(path.join(box.path('copied'), site)).nlink).toBe(1);
    expect(statSync(path.join(box.path('copied'), site)).mtimeMs).toBe(statSync(tree.at(site)).mtimeMs);
    await works(box, box.path('copied'));
  });

  it('an installed environment outlives the cache', async () => {
    const elsewhere = box.path('cache-to-clear');
    const own = ['-V', '--storage-dir', box.store, '--cache-dir', elsewhere];
    expect((await box.terrarium([...own, '-t', box.path('outlives'), 'install', 'requirements.txt'])).code).toBe(0);
    expect((await box.terrarium([...own, '-t', box.path('outlives 2'), 'install', 'requirements.txt'])).stderr).toContain('from unpacked copy');
    rmSync(elsewhere, { recursive: true });
    await works(box, box.path('outlives 2'));
  });

  it('a damaged copy is dropped, the archive serves, and the copy is made again', async () => {
    const tree = unpacked(cache);
    rmSync(tree.at(tree.file(SITE_FILE)));
    const result = await box.terrarium(args('-t', box.path('after damage'), 'install', 'requirements.txt'));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/unpacked copy in the cache .* is unusable .*ENOENT.*dropped it, using the stores/);
    expect(result.stderr).toMatch(/restored \S+ from .*store at/);
    await works(box, box.path('after damage'));
    expect(existsSync(unpacked(cache).at(tree.file(SITE_FILE)))).toBe(true);
  });

  it('a file edited in place through a hard link is noticed: the copy is dropped, not linked again', async () => {
    const target = box.path('hard-linked');
    expect((await box.terrarium(args('--link-mode', 'hardlink', '-t', target, 'install', 'requirements.txt'))).code).toBe(0);
    const tree = unpacked(cache);
    const site = tree.file(SITE_FILE);
    expect(statSync(path.join(target, site)).ino).toBe(statSync(tree.at(site)).ino);
    appendFileSync(path.join(target, site), 'raise SystemExit("edited")\n');
    const result = await box.terrarium(args('--link-mode', 'hardlink', '-t', box.path('after edit'), 'install', 'requirements.txt'));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /unpacked copy in the cache .* is unusable .*terra_demo\/__init__\.py is no longer as archived.*dropped it, using the stores/,
    );
    await works(box, box.path('after edit'));
    expect(readFileSync(unpacked(cache).at(site), 'utf8')).not.toContain('edited');
  });

  it('an index from another version of terrarium is dropped, and the copy made again', async () => {
    const tree = unpacked(cache);
    const index = JSON.parse(readFileSync(tree.index, 'utf8')) as { format: number };
    writeFileSync(tree.index, JSON.stringify({ ...index, format: 1 }));
    const result = await box.terrarium(args('-t', box.path('old index'), 'install', 'requirements.txt'));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/restored \S+ from .*store at/);
    const again = await box.terrarium(args('-t', box.path('old index 2'), 'install', 'requirements.txt'));
    expect(again.stderr).toMatch(/from unpacked copy in the cache/);
  });

  it('a tampered index cannot make it write outside the target', async () => {
    const tree = unpacked(cache);
    const index = JSON.parse(readFileSync(tree.index, 'utf8')) as { entries: unknown[] };
    index.entries.unshift({ path: '../../escaped', type: 'file', mode: 0o644, mtime: 0, size: 7 });
    writeFileSync(tree.index, JSON.stringify(index));
    writeFileSync(path.join(tree.dir, '..', '..', 'escaped'), 'planted');
    const result = await box.terrarium(args('-t', box.path('tampered'), 'install', 'requirements.txt'));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/is unusable .*"\.\.\/\.\.\/escaped" rejected/);
    // Relative to staging (a sibling of the target in the sandbox), ../../escaped is beside the sandbox.
    expect(existsSync(path.join(path.dirname(box.dir), 'escaped'))).toBe(false);
    await works(box, box.path('tampered'));
  });

  it.each<[string, (tree: ReturnType<typeof unpacked>) => void]>([
    ['a relocated file appended to (bin/terra-demo)', (tree) => appendFileSync(tree.at('bin/terra-demo'), 'import os; os.system("evil")\n')],
    ['pyvenv.cfg appended to', (tree) => appendFileSync(tree.at('pyvenv.cfg'), 'include-system-site-packages = true\n')],
    [
      'a file swapped for a symlink of the same size and mtime',
      (tree) => {
        const index = JSON.parse(readFileSync(tree.index, 'utf8')) as { entries: Array<{ path: string; type: string; size?: number; sha256?: string }> };
        const linked = index.entries.find((e) => e.type === 'file' && !e.sha256 && e.path.startsWith('lib/') && e.size! > 16 && e.size! < 4000)!;
        const file = path.join(tree.dir, linked.path);
        const { size, mtime } = statSync(file);
        rmSync(file);
        // A link's size is its target's length: leading slashes make /etc/shadow exactly as long as the file was.
        spawnSync('ln', ['-s', `${'/'.repeat(size - 'etc/shadow'.length)}etc/shadow`, file]);
        spawnSync('touch', ['-h', '-d', mtime.toISOString(), file]);
        expect(lstatSync(file)).toMatchObject({ size });
      },
    ],
  ])('a copy with %s is dropped, and the stores serve', async (_, tamper) => {
    const fresh = box.path(`fresh-${Math.random().toString(16).slice(2)}`);
    expect((await box.terrarium(args('-t', fresh, 'install', 'requirements.txt'))).code).toBe(0);
    tamper(unpacked(cache));
    const target = box.path(`after-tamper-${Math.random().toString(16).slice(2)}`);
    const result = await box.terrarium(args('-t', target, 'install', 'requirements.txt'));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/unpacked copy in the cache .* is unusable .*is no longer as archived.*dropped it, using the stores/);
    expect(readFileSync(path.join(target, 'pyvenv.cfg'), 'utf8')).not.toContain('include-system-site-packages = true');
    expect(readFileSync(path.join(target, 'bin', 'terra-demo'), 'utf8')).not.toContain('evil');
    await works(box, target);
  });

  it.each<[string, (manifest: { externalLinks: unknown[]; interpreterLinks: string[] }, victim: string) => void]>([
    ['an external link climbing out', (manifest, victim) => manifest.externalLinks.push({ path: `../../${path.basename(victim)}`, target: '/etc/passwd' })],
    ['an interpreter link climbing out', (manifest, victim) => manifest.interpreterLinks.push(`../../${path.basename(victim)}`)],
  ])('an index with %s deletes nothing outside: the copy is dropped', async (_, tamper) => {
    expect((await box.terrarium(args('-t', box.path(`pre-${Math.random().toString(16).slice(2)}`), 'install', 'requirements.txt'))).code).toBe(0);
    const tree = unpacked(cache);
    // Relative to staging (a sibling of the target in the sandbox), ../../NAME is beside the sandbox.
    const victim = path.join(path.dirname(box.dir), `victim-${process.pid}-${Math.random().toString(16).slice(2)}`);
    writeFileSync(victim, 'keep me');
    const index = JSON.parse(readFileSync(tree.index, 'utf8'));
    const manifest = JSON.parse(index.manifestText);
    tamper(manifest, victim);
    index.manifestText = JSON.stringify(manifest);
    writeFileSync(tree.index, JSON.stringify(index));
    const target = box.path(`index-${Math.random().toString(16).slice(2)}`);
    const result = await box.terrarium(args('-t', target, 'install', 'requirements.txt'));
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
    rmSync(victim);
    await works(box, target);
  });

  it('cache verify drops what differs from what was written (exit 6), and passes a clean cache', async () => {
    expect((await box.terrarium(args('-t', box.path('pre-verify'), 'install', 'requirements.txt'))).code).toBe(0);
    const clean = await box.terrarium(['--cache-dir', cache, 'cache', 'verify']);
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
    expect(clean.stdout).toMatch(/^ok +unpacked copy/m);
    const tree = unpacked(cache);
    truncateSync(tree.at(tree.file(SITE_FILE)), 1);
    const dirty = await box.terrarium(['--cache-dir', cache, '--json', 'cache', 'verify']);
    expect(dirty.code).toBe(6);
    expect(JSON.parse(dirty.stdout).checked).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'unpacked copy', ok: false })]));
    expect(readdirSync(path.join(cache, 'unpacked')).filter((name) => name.endsWith('.json'))).toEqual([]);
  });

  it('--no-cache keeps no copy', async () => {
    const unused = box.path('unused-cache');
    const result = await box.terrarium([
      '--storage-dir',
      box.store,
      '--cache-dir',
      unused,
      '--no-cache',
      '-t',
      box.path('no-cache'),
      'install',
      'requirements.txt',
    ]);
    expect(result.code, result.stderr).toBe(0);
    // Interpreter fingerprints are kept there all the same (README: --cache-dir); nothing else is.
    expect((existsSync(unused) ? readdirSync(unused) : []).filter((name) => name !== 'interpreters.json')).toEqual([]);
  });
});

/** XFS made in a file and mounted through a loop device: needs mkfs.xfs (xfsprogs) and mount rights. */
function mountXfs(image: string, dir: string): boolean {
  mkdirSync(dir, { recursive: true });
  writeFileSync(image, '');
  truncateSync(image, 400 * 1024 * 1024);
  return spawnSync('mkfs.xfs', ['-q', '-f', image]).status === 0 && spawnSync('mount', ['-o', 'loop', image, dir]).status === 0;
}

describe('link mode on a file system with copy-on-write clones', () => {
  const box = new Sandbox();
  const xfs = box.path('xfs');
  const mounted = mountXfs(box.path('xfs.img'), xfs);
  const args = (...rest: string[]) => ['-V', '--storage-dir', box.store, '--cache-dir', path.join(xfs, 'cache'), ...rest];

  beforeAll(async () => {
    box.write('requirements.txt', 'terra-demo\nterra-cext\n');
    await box.seed('demo-cext');
  });
  afterAll(() => {
    if (mounted) spawnSync('umount', [xfs]);
    box.cleanup();
  });

  it.skipIf(!mounted)('clones by default: nothing shared that a write could reach', async () => {
    expect((await box.terrarium(args('-t', path.join(xfs, 'first'), 'install', 'requirements.txt'))).code).toBe(0);
    const result = await box.terrarium(args('-t', path.join(xfs, 'second'), 'install', 'requirements.txt'));
    expect(result.stderr).toMatch(/from unpacked copy in the cache .* \(clone\)/);
    const tree = unpacked(path.join(xfs, 'cache'));
    const site = tree.file(SITE_FILE);
    expect(statSync(path.join(xfs, 'second', site)).nlink).toBe(1);
    expect(readFileSync(path.join(xfs, 'second', site))).toEqual(readFileSync(tree.at(site)));
    await works(box, path.join(xfs, 'second'));
  });

  it('asked to clone where the file system cannot, it says so and hard-links', async () => {
    const cache = box.path('ext-cache');
    const own = ['-V', '--storage-dir', box.store, '--cache-dir', cache, '--link-mode', 'clone'];
    expect((await box.terrarium([...own, '-t', box.path('one'), 'install', 'requirements.txt'])).code).toBe(0);
    const probe = box.path('probe');
    cpSync(path.join(box.path('one'), 'pyvenv.cfg'), probe);
    const canClone = spawnSync('cp', ['--reflink=always', probe, `${probe}.clone`]).status === 0;
    const result = await box.terrarium([...own, '-t', box.path('two'), 'install', 'requirements.txt']);
    expect(result.code, result.stderr).toBe(0);
    if (canClone) expect(result.stderr).toMatch(/\(clone\)/);
    else expect(result.stderr).toMatch(/--link-mode clone is not possible between .* used hardlink/);
  });

  it.skipIf(!mounted)('with the cache on another file system, installs unpack the archive and keep no copy', async () => {
    const cache = path.join(xfs, 'other-cache');
    const result = await box.terrarium(['-V', '--storage-dir', box.store, '--cache-dir', cache, '-t', box.path('elsewhere'), 'install', 'requirements.txt']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/no unpacked copy kept: the cache .* is on another file system/);
    expect(result.stderr).toMatch(/restored \S+ from .*store at/);
    expect(listed(path.join(cache, 'unpacked'))).toEqual([]);
    expect(listed(path.join(cache, 'trees'))).toEqual([]);
    await works(box, box.path('elsewhere'));
  });
});
