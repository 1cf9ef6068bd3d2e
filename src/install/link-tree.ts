import { lstatSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { EntryGuard } from '../archive/entry-check.js';
import { TreeWriter } from '../archive/tree-writer.js';
import { TerrariumError } from '../errors.js';
import { failpoint } from '../io/failpoint.js';
import type { LinkMethod } from '../io/file-ops.js';
import type { Relocator } from '../relocate/relocator.js';
import type { UnpackedTree } from '../stores/unpacked.js';

/**
 * Recreates an unpacked tree from the cache in `root` (an empty staging directory): folders and
 * symlinks made anew, files linked, cloned or copied from the tree, except the files the relocator
 * rewrites, which are written as new files (never through a link into the cache). The file system calls
 * run on the writer's thread while this one checks the entries and the cached files: a repeat install
 * of 18,000 files took 0.69 s instead of 0.80 s on ext4 with everything on one thread (0.60 s instead
 * of 0.65 s on a RAM disk).
 * The index comes from the cache, a place other programs can write to: its entries pass the same
 * checks as an archive's, so nothing lands outside root. Returns the method the file system accepted.
 */
export async function linkTree(tree: UnpackedTree, root: string, relocator: Relocator, method: LinkMethod): Promise<LinkMethod> {
  const guard = new EntryGuard();
  const writer = new TreeWriter(root, { root: tree.dir, method, existing: true });
  try {
    for (const item of tree.index.entries) {
      const entry = guard.check({ name: item.path, type: item.type, mode: 'mode' in item ? item.mode : undefined, linkname: 'linkname' in item ? item.linkname : undefined });
      failpoint('link-entry');
      if (entry.type === 'directory') writer.dir(entry.path, entry.mode);
      else if (entry.type === 'symlink') writer.symlink(entry.path, entry.linkname!);
      else if (item.type !== 'file') throw new TerrariumError('ARCHIVE_CORRUPT', `${entry.path}: a file entry of another kind than this version writes`);
      else if (relocator.needs(entry.path)) writer.file(entry.path, entry.mode, new Date(item.mtime), relocator.apply(entry.path, readFileSync(path.join(tree.dir, entry.path))));
      else {
        checkAsArchived(path.join(tree.dir, entry.path), item.size, item.mtime);
        writer.link(entry.path, item.mtime);
      }
    }
    await writer.finish();
  } catch (error) {
    await writer.abort();
    throw error;
  }
  return writer.method ?? method;
}

/**
 * A hard link shares the file with every environment linked from it: one edited in place (not replaced,
 * as pip and editors do) changes the copy in the cache. Its size or mtime then differs from the index,
 * and the copy is not used again. One lstat per file (0.1 s for 18,000), while the writer's thread links.
 */
function checkAsArchived(file: string, size: number, mtimeMs: number): void {
  const stat = lstatSync(file);
  if (stat.size !== size || Math.trunc(stat.mtimeMs / 1000) !== Math.trunc(mtimeMs / 1000)) {
    throw new TerrariumError('ARCHIVE_CORRUPT', `${file} is no longer as archived (size or mtime changed: edited in place through a hard link?)`);
  }
}
