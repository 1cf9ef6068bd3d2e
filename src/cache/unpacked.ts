import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { LinkedPart } from '../archive/parts.js';
import { describeCause, isErrno, TerrariumError } from '../errors.js';
import { isRealFolder, lstatOrMissing, pathExists, readBoundedSync, removeTree, siblingPath, writeFileAtomic } from '../io/fs.js';
import { removeLeftovers } from '../io/leftovers.js';
import { isStorageKey, SHA256_HEX } from '../stores/store.js';
import { DamagedInCache } from './layout.js';
import { checkIndex, checkTreeIndex, type TreeIndex, treesOf, type UnpackedCopy, type UnpackedIndex, type UnpackedTree } from './unpacked-index.js';

/** Larger indexes are not read: one entry takes about 100 bytes (18,000 files: 1.8 MB), so this is 160,000 entries. */
const MAX_INDEX_BYTES = 16 << 20;
/** The tree indexes of one key's copy together: a copy beyond it is not used (an environment of 320,000 files). */
const MAX_COPY_INDEX_BYTES = 2 * MAX_INDEX_BYTES;

/**
 * Unpacked copies of archives in the local cache, for link-mode installs. Layout: `KEYS/KEY.json`, the
 * index of a key's copy (`/` and `%` in the key escaped, so that every index is in one folder), and
 * `TREES/HEX/` with `TREES/HEX.json`, a tree and its index. A tree is written before its index, and
 * the trees of a key before the key's index, so an index always names complete trees. Removal goes
 * the other way: index first, then the tree under a temporary name. Trees no key names are swept,
 * past a grace period (an install may be about to name them).
 */
export class UnpackedTrees {
  private swept = false;

  constructor(
    private readonly root: string,
    private readonly treesRoot: string,
  ) {}

  private indexPath(key: string): string {
    return path.join(this.root, `${key.replace(/[%/]/g, (c) => (c === '%' ? '%25' : '%2F'))}.json`);
  }

  /** The key whose index `indexPath` names so. */
  private static keyOf(name: string): string {
    return name.slice(0, -'.json'.length).replace(/%(25|2F)/g, (code) => (code === '%25' ? '%' : '/'));
  }

  private treePath(sha256: string): string {
    return path.join(this.treesRoot, sha256);
  }

  private treeIndexPath(sha256: string): string {
    return path.join(this.treesRoot, `${sha256}.json`);
  }

  /** The copy of `key`, marked as just used; undefined when there is none, one of its trees is missing, or its index is damaged. */
  async find(key: string): Promise<UnpackedCopy | undefined> {
    const index = await this.readIndex(
      this.indexPath(key),
      (data) => checkIndex(data, key),
      () => this.discard(key),
    );
    if (!index) return undefined;
    const trees: UnpackedTree[] = [];
    // Each tree is named once (checkIndex): what is read for a copy is bounded by the sum of its tree indexes.
    let budget = MAX_COPY_INDEX_BYTES;
    for (const { sha256 } of treesOf(index)) {
      budget -= (await lstatOrMissing(this.treeIndexPath(sha256)))?.size ?? 0;
      const tree = budget >= 0 ? await this.findTree(sha256) : undefined;
      if (!tree) return undefined;
      trees.push(tree);
    }
    return { index, trees };
  }

  /** The tree unpacked from `sha256`, marked as just used (so the sweep spares a tree an install just picked); undefined when there is none. */
  async findTree(sha256: string): Promise<UnpackedTree | undefined> {
    const index = await this.readIndex(
      this.treeIndexPath(sha256),
      (data) => checkTreeIndex(data, sha256),
      () => this.discardTree(sha256),
    );
    return index && { dir: this.treePath(sha256), index };
  }

  /**
   * An index, checked, its mtime set to now (its last use); undefined when there is none. One that is
   * unreadable, of another version, or not what terrarium writes is dropped (`drop`): the archive will
   * be unpacked again, and kept anew.
   */
  private async readIndex<T>(file: string, check: (data: unknown) => T | undefined, drop: () => Promise<void>): Promise<T | undefined> {
    await this.sweepLeftovers();
    let index: T | undefined;
    try {
      index = check(JSON.parse(readBoundedSync(file, MAX_INDEX_BYTES).toString('utf8')));
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined;
    }
    if (!index) await drop().catch(() => undefined);
    else await touch(file);
    return index;
  }

  /** The file system the trees are on (its device number), made if there are none yet. */
  async device(): Promise<number> {
    await fs.mkdir(this.treesRoot, { recursive: true });
    return (await fs.stat(this.treesRoot)).dev;
  }

  /** A new empty directory to unpack the tree of `sha256` into, beside where it will live. */
  async reserve(sha256: string): Promise<string> {
    await fs.mkdir(this.treesRoot, { recursive: true });
    const dir = siblingPath(this.treePath(sha256), 'unpack');
    await fs.mkdir(dir, { mode: 0o755 });
    return dir;
  }

  /**
   * Moves a finished tree into place and indexes it, with the inode of each file (a file replaced later,
   * by a hard link to one outside the cache say, is then told apart); if another run got there first,
   * its tree stays.
   */
  async commitTree(dir: string, index: TreeIndex): Promise<void> {
    const { sha256 } = index;
    for (const entry of index.entries) if (entry.type === 'file') entry.ino = (await fs.lstat(path.join(dir, entry.path))).ino;
    try {
      await fs.rename(dir, this.treePath(sha256));
    } catch (error) {
      if (!isErrno(error, 'ENOTEMPTY', 'EEXIST')) throw error;
      await removeTree(dir);
      // A tree without an index is what a run killed between the two steps leaves: never used, replace it.
      if (await pathExists(this.treeIndexPath(sha256))) return;
      await this.discardTree(sha256);
      return;
    }
    await writeFileAtomic(this.treeIndexPath(sha256), JSON.stringify(index));
  }

  /** Names the trees that make the copy of `index.key` (all committed). */
  async commit(index: UnpackedIndex): Promise<void> {
    await fs.mkdir(this.root, { recursive: true });
    await writeFileAtomic(this.indexPath(index.key), JSON.stringify(index));
  }

  /** Drops the copy of `key`: its index (and the tree of an older layout); its trees go with the next sweep, unless other keys name them. */
  async discard(key: string): Promise<void> {
    if (!(await this.owns(this.root))) return;
    await fs.rm(this.indexPath(key), { force: true });
    await removeAside(path.join(this.root, key));
  }

  async discardTree(sha256: string): Promise<void> {
    if (!(await this.owns(this.treesRoot))) return;
    await fs.rm(this.treeIndexPath(sha256), { force: true });
    await removeAside(this.treePath(sha256));
  }

  /** Whether `folder` (the indexes' or the trees') is a real folder of the cache, not a link out of it: nothing is deleted through one. */
  private owns(folder: string): Promise<boolean> {
    return isRealFolder(path.dirname(folder), path.basename(folder));
  }

  /** Every key's copy with its trees and last use, for eviction (an index that is not one terrarium wrote names none). */
  async list(): Promise<Array<{ key: string; used: number; trees: Array<{ sha256: string; bytes: number }> }>> {
    const names = await fs.readdir(this.root).catch(() => [] as string[]);
    const copies = [];
    for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith('.'))) {
      const key = UnpackedTrees.keyOf(name);
      // A name no key escapes to (`..%2Fx`) is not one terrarium wrote, and must not name a path out of the cache.
      if (!isStorageKey(key)) continue;
      try {
        const file = path.join(this.root, name);
        const stat = await fs.lstat(file);
        const index = checkIndex(JSON.parse(readBoundedSync(file, MAX_INDEX_BYTES).toString('utf8')), key);
        copies.push({ key, used: stat.mtimeMs, trees: index ? treesOf(index) : [] });
      } catch {
        // being removed by another run
      }
    }
    return copies;
  }

  /**
   * Removes the trees no key's copy names and unused for `graceMs` (an install picks or writes its
   * trees before its index names them); returns their digests.
   */
  async sweep(graceMs: number): Promise<string[]> {
    const named = new Set((await this.list()).flatMap((copy) => copy.trees.map((tree) => tree.sha256)));
    const names = await fs.readdir(this.treesRoot).catch(() => [] as string[]);
    const unnamed = new Set(names.map((name) => name.replace(/\.json$/, '')).filter((sha256) => SHA256_HEX.test(sha256) && !named.has(sha256)));
    const removed = [];
    for (const sha256 of unnamed) {
      // A tree's index tells its last use; a tree without one (a run died before writing it) has only its own.
      const used = ((await lstatOrMissing(this.treeIndexPath(sha256))) ?? (await lstatOrMissing(this.treePath(sha256))))?.mtimeMs ?? 0;
      if (Date.now() - used < graceMs) continue;
      await this.discardTree(sha256);
      removed.push(sha256);
    }
    return removed;
  }

  /**
   * A tree as a part of an archive to link from; one that fails is dropped (it is as damaged for every
   * key that has it). `signed`: the tree digest a trusted signature covers, which what is linked must have.
   */
  part(tree: UnpackedTree, signed?: string): LinkedPart {
    return {
      linked: { dir: tree.dir, entries: tree.index.entries, manifest: tree.index.manifest, manifestText: tree.index.manifestText, tree: signed },
      failed: async (error) => {
        await this.discardTree(tree.index.sha256).catch(() => undefined);
        const { code, message } = error instanceof TerrariumError ? error : { code: 'ARCHIVE_CORRUPT' as const, message: describeCause(error) };
        return new DamagedInCache(code, `unpacked tree ${tree.index.sha256.slice(0, 16)} in the cache: ${message} (dropped it)`, { cause: error });
      },
    };
  }

  /** Runs that died while unpacking leave temporary trees behind; each run sweeps them once. */
  private async sweepLeftovers(): Promise<void> {
    if (this.swept) return;
    this.swept = true;
    for (const folder of [this.root, this.treesRoot]) if (await this.owns(folder)) await removeLeftovers(folder).catch(() => undefined);
  }
}

const touch = async (file: string): Promise<void> => {
  const now = new Date();
  await fs.utimes(file, now, now).catch(() => undefined);
};

/** Renames a tree aside, then removes it: a reader never sees half of it under its name. */
async function removeAside(dir: string): Promise<void> {
  const aside = siblingPath(dir, 'drop');
  try {
    await fs.rename(dir, aside);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return;
    throw error;
  }
  await removeTree(aside);
}
