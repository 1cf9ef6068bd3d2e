import { linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Entry } from '../../src/archive/entry.js';
import { sha256Hex } from '../../src/archive/tree-digest.js';
import { EXIT } from '../../src/errors.js';
import { Sandbox } from '../helpers/cli.js';
import { envState } from '../helpers/env-state.js';

interface Tree {
  dir: string;
  index: { entries: Entry[]; manifestText?: string };
}

/** Link mode with trusted keys: what is installed from the cache's unpacked trees is only what the signature covers. */
describe('link mode installs only what the signature covers', () => {
  const box = new Sandbox();
  const cache = box.path('cache');
  const signer = box.path('keys', 'builder.key');
  let run = 0;
  const install = (...options: string[]) => {
    const target = box.path(`env-${++run}`);
    return box
      .terrarium(['--storage-dir', box.store, '--cache-dir', cache, '--require-download', ...options, '-t', target, 'install', 'requirements.txt'])
      .then((result) => ({
        ...result,
        target,
      }));
  };
  const trusted = () => install('--trust-key', `${signer}.pub`);
  const trees = (): Tree[] =>
    readdirSync(path.join(cache, 'trees'))
      .filter((name) => name.endsWith('.json'))
      .map((name) => ({ dir: path.join(cache, 'trees', name.slice(0, -5)), index: JSON.parse(readFileSync(path.join(cache, 'trees', name), 'utf8')) }));
  const save = (tree: Tree) => writeFileSync(`${tree.dir}.json`, JSON.stringify(tree.index));
  /** The tree holding the file whose path matches, and that entry. */
  const holding = (pattern: RegExp): [Tree, Entry] => {
    for (const tree of trees()) {
      const entry = tree.index.entries.find((e) => pattern.test(e.path));
      if (entry) return [tree, entry];
    }
    throw new Error(`no tree holds ${pattern}`);
  };
  const SITE = /^lib\/python3\.\d+\/site-packages\/terra_demo\/__init__\.py$/;

  beforeAll(async () => {
    box.write('requirements.txt', 'terra-demo\n');
    mkdirSync(path.dirname(signer));
    expect((await box.terrarium(['keygen', signer])).code).toBe(0);
    const built = await box.terrarium(['--storage-dir', box.store, '--no-cache', '--sign-key', signer, '-t', box.path('built'), 'install', 'requirements.txt']);
    expect(built.code, built.stderr).toBe(0);
  });
  /** The install that kept the copy (its files linked from it). */
  let kept: Awaited<ReturnType<typeof install>>;
  beforeEach(async () => {
    rmSync(cache, { recursive: true, force: true });
    kept = await install();
    expect(kept.code, kept.stderr).toBe(0);
  });
  afterAll(() => box.cleanup());

  it('a clean copy is used under --trust-key, its files copied as they are checked', async () => {
    const result = await trusted();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('copied, as the signature covers them');
    expect(envState(result.target)).toBe('terra_demo');
    // Nothing is shared with the cache: an edit in the environment stays there.
    const [tree, entry] = holding(SITE);
    expect(statSync(path.join(result.target, entry.path)).ino).not.toBe(statSync(path.join(tree.dir, entry.path)).ino);
    // doctor says which environment shares its files, and how many.
    const linked = await box.terrarium(['-t', kept.target, 'doctor']);
    expect(linked.code, linked.stderr).toBe(0);
    expect(linked.stderr).toMatch(/\d+ of \d+ files in .* are hard links shared with the cache's unpacked copy/);
    const own = await box.terrarium(['-t', result.target, 'doctor']);
    expect(own.code, own.stderr).toBe(0);
    expect(own.stderr).not.toContain('hard links shared');
  });

  it('a planted .pth with its entry added to the index is not installed; the store serves instead, and cache verify catches it without keys', async () => {
    const [tree, entry] = holding(SITE);
    const pth = path.join(path.dirname(path.dirname(entry.path)), 'planted.pth');
    const body = 'import os; open(os.environ.get("PTH_RAN", "/dev/null"), "w")\n';
    writeFileSync(path.join(tree.dir, pth), body);
    const mtime = Math.trunc(statSync(path.join(tree.dir, pth)).mtimeMs);
    tree.index.entries.push({ path: pth, type: 'file', mode: 0o644, mtime, size: body.length, ino: statSync(path.join(tree.dir, pth)).ino });
    save(tree);
    const verify = await box.terrarium(['--cache-dir', cache, 'cache', 'verify']);
    expect(verify.code, verify.stdout).toBe(EXIT.archive);
    expect(verify.stdout).toMatch(/not the tree its layer describes/);
    // Again, for the install: verify dropped it.
    rmSync(cache, { recursive: true, force: true });
    expect((await install()).code).toBe(0);
    const [again, at] = holding(SITE);
    writeFileSync(path.join(again.dir, pth), body);
    again.index.entries.push({ path: pth, type: 'file', mode: 0o644, mtime, size: body.length, ino: statSync(path.join(again.dir, pth)).ino });
    save(again);
    expect(at.path).toBe(entry.path);
    const result = await trusted();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/is not the tree its signed layer describes/);
    expect(readdirSync(path.dirname(path.join(result.target, pth)))).not.toContain('planted.pth');
    expect(envState(result.target)).toBe('terra_demo');
  });

  it('a rewritten console script with its digest, size and mtime updated in the index is not installed', async () => {
    const [tree, entry] = holding(/^bin\/terra-demo$/);
    const file = path.join(tree.dir, entry.path);
    const evil = readFileSync(file, 'utf8').replace('import', 'print("evil")\nimport');
    writeFileSync(file, evil);
    utimesSync(file, entry.mtime / 1000, entry.mtime / 1000);
    Object.assign(entry, { sha256: sha256Hex(Buffer.from(evil)), size: Buffer.byteLength(evil) });
    save(tree);
    const result = await trusted();
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(path.join(result.target, 'bin', 'terra-demo'), 'utf8')).not.toContain('evil');
  });

  it('a tree folder that became a symlink is refused, with keys or without', async () => {
    const [tree, entry] = holding(SITE);
    const folder = path.join(tree.dir, path.dirname(entry.path));
    const elsewhere = box.path(`elsewhere-${run}`);
    renameSync(folder, elsewhere);
    symlinkSync(elsewhere, folder);
    const result = await install();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/is no longer a folder/);
    expect(envState(result.target)).toBe('terra_demo');
  });

  it('a tree file replaced by a hard link to a file outside the cache is refused', async () => {
    const [tree, entry] = holding(SITE);
    const file = path.join(tree.dir, entry.path);
    const outside = box.path(`outside-${run}`);
    writeFileSync(outside, readFileSync(file));
    utimesSync(outside, entry.mtime / 1000, entry.mtime / 1000);
    rmSync(file);
    linkSync(outside, file);
    const result = await install();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/another file than the one unpacked there/);
    expect(statSync(path.join(result.target, entry.path)).ino).not.toBe(statSync(outside).ino);
  });
});
