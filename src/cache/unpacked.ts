import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Entry } from '../archive/entry.js';
import { isErrno } from '../errors.js';
import { readBoundedSync, removeTree, siblingPath, writeFileAtomic } from '../io/fs.js';
import { removeLeftovers } from '../io/leftovers.js';
import { checkManifest, type Manifest } from '../archive/manifest.js';

/** 4: every entry is a whole Entry record (3: relocated files carry their sha256, the index the archive's digest and signature). */
export const UNPACKED_FORMAT = 4;

/** Larger indexes are not read: one entry takes about 100 bytes (18,000 files: 1.8 MB), so this is 160,000 entries. */
const MAX_INDEX_BYTES = 16 << 20;

/** What is known of an unpacked tree without reading it: enough to link it into a new place. */
export interface UnpackedIndex {
  format: typeof UNPACKED_FORMAT;
  key: string;
  /** The archive's manifest, as packed (the tree is not relocated: it still names the build path). */
  manifest: Manifest;
  entries: Entry[];
  bytes: number;
  /** The archive it was unpacked from, and that archive's minisign signature if it had one. */
  sha256: string;
  signature?: string | undefined;
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
      index = checkIndex(JSON.parse(readBoundedSync(this.indexPath(key), MAX_INDEX_BYTES).toString('utf8')), key);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined;
    }
    if (!index) {
      // Unreadable, written by another version, or not what terrarium writes: the archive will be unpacked again, and kept anew.
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
      if (
        await fs.access(this.indexPath(key)).then(
          () => true,
          () => false,
        )
      )
        return;
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
        const stat = await fs.lstat(file);
        const index = JSON.parse(readBoundedSync(file, MAX_INDEX_BYTES).toString('utf8')) as Partial<UnpackedIndex>;
        trees.push({ key, bytes: typeof index.bytes === 'number' && index.bytes >= 0 ? index.bytes : 0, used: stat.mtimeMs });
      } catch {
        // being removed by another run
      }
    }
    return trees;
  }
}

/**
 * The cache is written by other programs too (a CI cache restored from elsewhere): an index passes the
 * same manifest check as an archive's, and each entry must have the shape terrarium writes (its path
 * is checked by the entry guard when it is linked). Undefined for anything else.
 */
export function checkIndex(data: unknown, key: string): UnpackedIndex | undefined {
  const index = data as Partial<UnpackedIndex> | null;
  if (typeof index !== 'object' || index === null || index.format !== UNPACKED_FORMAT || index.key !== key || !Array.isArray(index.entries)) return undefined;
  if (typeof index.sha256 !== 'string' || (index.signature !== undefined && typeof index.signature !== 'string') || !isCount(index.bytes)) return undefined;
  if (!index.entries.every(isEntry)) return undefined;
  try {
    index.manifest = checkManifest(index.manifest);
  } catch {
    return undefined;
  }
  return index as UnpackedIndex;
}

const isCount = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;

function isEntry(value: unknown): value is Entry {
  const e = value as Record<string, unknown> | null;
  if (typeof e !== 'object' || e === null || typeof e.path !== 'string' || !isCount(e.mode) || !isCount(e.size) || !Number.isFinite(e.mtime)) return false;
  if (e.type === 'directory') return true;
  if (e.type === 'symlink') return typeof e.linkname === 'string';
  return e.type === 'file' && (e.sha256 === undefined || (typeof e.sha256 === 'string' && /^[0-9a-f]{64}$/.test(e.sha256)));
}
