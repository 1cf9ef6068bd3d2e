import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { UnpackedEntry } from '../archive/tree-writer.js';
import { isErrno } from '../errors.js';
import { removeTree, siblingPath, writeFileAtomic } from '../io/fs.js';
import { removeLeftovers } from '../io/leftovers.js';
import type { Manifest } from '../relocate/manifest.js';

/** 2: file entries carry their size, for the check that a kept file is as archived. */
export const UNPACKED_FORMAT = 2;

/** What is known of an unpacked tree without reading it: enough to link it into a new place. */
export interface UnpackedIndex {
  format: typeof UNPACKED_FORMAT;
  key: string;
  /** The archive's manifest, as packed (the tree is not relocated: it still names the build path). */
  manifest: Manifest;
  entries: UnpackedEntry[];
  bytes: number;
}

export interface UnpackedTree {
  dir: string;
  index: UnpackedIndex;
}

/**
 * Unpacked copies of archives in the local cache, for link-mode installs. Layout: `KEY/` (the tree, as
 * archived) and `KEY.json` (its index), written in that order, so an index always describes a complete
 * tree. Removal goes the other way: index first, then the tree under a temporary name.
 */
export class UnpackedTrees {
  private swept = false;

  constructor(readonly root: string) {}

  private treePath(key: string): string {
    return path.join(this.root, key);
  }

  private indexPath(key: string): string {
    return path.join(this.root, `${key}.json`);
  }

  /** The tree for `key`, marked as just used; undefined when there is none (or only a damaged index). */
  async find(key: string): Promise<UnpackedTree | undefined> {
    if (!this.swept) {
      // Runs that died while unpacking leave temporary trees behind; each run sweeps them once.
      this.swept = true;
      await removeLeftovers(this.root).catch(() => undefined);
    }
    let index: UnpackedIndex | undefined;
    try {
      index = JSON.parse(await fs.readFile(this.indexPath(key), 'utf8')) as UnpackedIndex;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined;
    }
    if (index?.format !== UNPACKED_FORMAT || index.key !== key || !Array.isArray(index.entries)) {
      // Unreadable, or written by another version: the archive will be unpacked again, and kept anew.
      await this.discard(key).catch(() => undefined);
      return undefined;
    }
    const now = new Date();
    await fs.utimes(this.indexPath(key), now, now).catch(() => undefined);
    return { dir: this.treePath(key), index };
  }

  /** A new empty directory to unpack `key` into, beside where it will live. */
  async reserve(key: string): Promise<string> {
    await fs.mkdir(this.root, { recursive: true });
    const dir = siblingPath(this.treePath(key), 'unpack');
    await fs.mkdir(dir, { mode: 0o755 });
    return dir;
  }

  /** Moves a finished tree into place and indexes it; if another run got there first, its tree stays. */
  async commit(key: string, dir: string, index: UnpackedIndex): Promise<void> {
    try {
      await fs.rename(dir, this.treePath(key));
    } catch (error) {
      if (!isErrno(error, 'ENOTEMPTY', 'EEXIST')) throw error;
      await removeTree(dir);
      // A tree without an index is what a run killed between the two steps leaves: never used, replace it.
      if (await fs.access(this.indexPath(key)).then(() => true, () => false)) return;
      await this.discard(key);
      return;
    }
    await writeFileAtomic(this.indexPath(key), JSON.stringify(index));
  }

  async discard(key: string): Promise<void> {
    await fs.rm(this.indexPath(key), { force: true });
    const aside = siblingPath(this.treePath(key), 'drop');
    try {
      await fs.rename(this.treePath(key), aside);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return;
      throw error;
    }
    await removeTree(aside);
  }

  /** Every indexed tree with its size and last use, for eviction. */
  async list(): Promise<Array<{ key: string; bytes: number; used: number }>> {
    const names = await fs.readdir(this.root).catch(() => [] as string[]);
    const trees = [];
    for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith('.'))) {
      const key = name.slice(0, -'.json'.length);
      try {
        const file = path.join(this.root, name);
        const [stat, index] = await Promise.all([fs.stat(file), fs.readFile(file, 'utf8').then((json) => JSON.parse(json) as UnpackedIndex)]);
        trees.push({ key, bytes: typeof index.bytes === 'number' ? index.bytes : 0, used: stat.mtimeMs });
      } catch {
        // being removed by another run
      }
    }
    return trees;
  }
}
