import { lstatSync, readlinkSync } from 'node:fs';
import { readLinked, TreeFolders } from '../archive/linked-files.js';
import { TreeDigest } from '../archive/tree-digest.js';
import { describeCause } from '../errors.js';
import { flawOfStored } from '../stores/verify.js';
import type { LocalCache } from './local-cache.js';
import type { UnpackedTree } from './unpacked-index.js';

export interface CacheCheck {
  key: string;
  kind: 'archive' | 'unpacked copy';
  /** Undefined: as written. Otherwise what differs; the entry was dropped. */
  problem: string | undefined;
}

/**
 * `terrarium cache verify`: every archive in the cache rehashed against its record (and read through
 * every check of an install); every unpacked copy's index checked, and each entry of the copy against
 * it: kind, size and mtime, link targets, and the digests of the files installs rewrite. What differs is
 * dropped, so the stores serve next time.
 */
export async function verifyCache(local: LocalCache, signal?: AbortSignal): Promise<CacheCheck[]> {
  const checks: CacheCheck[] = [];
  for (const record of await local.archives.list()) {
    const problem = await flawOfStored(local.archives, record, signal).catch((error: unknown) => describeCause(error));
    if (problem) await local.archives.discard(record);
    checks.push({ key: record.key, kind: 'archive', problem });
  }
  // Trees shared by several keys are read once; one that differs is dropped, with every key it is part of.
  const flaws = new Map<string, string | undefined>();
  const flawOf = async (tree: UnpackedTree, signed: string | undefined) => {
    if (!flaws.has(tree.index.sha256)) {
      const flaw = flawOfTree(tree, signed);
      flaws.set(tree.index.sha256, flaw);
      if (flaw) await local.trees.discardTree(tree.index.sha256);
    }
    return flaws.get(tree.index.sha256);
  };
  for (const { key } of await local.trees.list()) {
    const copy = await local.trees.find(key);
    let problem = copy ? undefined : 'its index is not one terrarium wrote, or names a tree that is gone';
    for (const [i, tree] of (copy?.trees ?? []).entries()) {
      const flaw = await flawOf(tree, copy!.index.layers?.[i]?.tree);
      problem ??= flaw && (copy!.trees.length > 1 ? `tree ${tree.index.sha256.slice(0, 16)}: ${flaw}` : flaw);
    }
    if (problem) await local.trees.discard(key);
    checks.push({ key, kind: 'unpacked copy', problem });
  }
  return checks;
}

/**
 * What differs between a tree and its index: kinds, sizes and mtimes, inodes, link targets, folders
 * that became links, the digests of the files installs rewrite; and, with `signed` (the digest its
 * layer gives the tree), every file's bytes and the index itself.
 */
function flawOfTree(tree: UnpackedTree, signed: string | undefined): string | undefined {
  const digest = signed === undefined ? undefined : new TreeDigest();
  if (digest && tree.index.manifestText !== undefined) digest.manifest(Buffer.from(tree.index.manifestText));
  let folders: TreeFolders;
  try {
    folders = new TreeFolders(tree.dir);
  } catch (error) {
    return describeCause(error);
  }
  for (const entry of tree.index.entries) {
    const file = `${tree.dir}/${entry.path}`;
    try {
      folders.check(entry.path);
      const stat = lstatSync(file);
      if (entry.type === 'directory' && !stat.isDirectory()) return `${entry.path} is no longer a directory`;
      if (entry.type === 'symlink' && (!stat.isSymbolicLink() || readlinkSync(file) !== entry.linkname))
        return `${entry.path} is no longer the symlink to ${entry.linkname}`;
      if (entry.type !== 'file') {
        digest?.entry(entry);
        continue;
      }
      if (!stat.isFile()) return `${entry.path} is no longer a regular file`;
      if (stat.size !== entry.size || Math.trunc(stat.mtimeMs / 1000) !== Math.trunc(entry.mtime / 1000)) return `${entry.path} changed (size or mtime)`;
      if (entry.ino !== undefined && stat.ino !== entry.ino) return `${entry.path} is another file than the one unpacked there`;
      const sha256 = entry.sha256 || digest ? readLinked(file, entry.size, () => undefined) : undefined;
      if (entry.sha256 && sha256 !== entry.sha256) return `${entry.path} changed (content)`;
      digest?.entry(entry, sha256);
    } catch (error) {
      return `${entry.path}: ${describeCause(error)}`;
    }
  }
  if (digest && digest.digest() !== signed) return 'its index or files are not the tree its layer describes';
  return undefined;
}
