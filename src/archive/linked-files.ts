import { createHash } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { TerrariumError } from '../errors.js';
import { readBoundedSync } from '../io/fs.js';
import { MAX_RELOCATED_BYTES } from '../relocate/relocator.js';

/** What an unpacked copy's index says of one of its files. */
interface AsArchived {
  size: number;
  mtime: number;
}

/**
 * A hard link shares the file with every environment linked from it: one edited in place (not replaced,
 * as pip and editors do) changes the copy in the cache. Its size or mtime then differs from the index,
 * and the copy is not used again. One lstat per file (0.1 s for 18,000), while the writer's thread links.
 */
export function checkAsArchived(file: string, { size, mtime }: AsArchived): void {
  const stat = lstatSync(file);
  // A symlink put in a file's place, with the same size and mtime, would be linked to whatever it names.
  if (!stat.isFile()) throw notAsArchived(file, 'it is no longer a regular file');
  if (stat.size !== size || Math.trunc(stat.mtimeMs / 1000) !== Math.trunc(mtime / 1000)) {
    throw notAsArchived(file, 'size or mtime changed: edited in place through a hard link?');
  }
}

/**
 * A file an install rewrites (it names the build path), read from an unpacked copy: checked whole
 * against the digest taken when it was unpacked. These are few (scripts, pyvenv.cfg), and small.
 */
export function readRelocated(file: string, archived: AsArchived, sha256: string | undefined): Buffer {
  checkAsArchived(file, archived);
  const content = readBoundedSync(file, MAX_RELOCATED_BYTES, { noFollow: true });
  if (content.length !== archived.size || createHash('sha256').update(content).digest('hex') !== sha256) throw notAsArchived(file, 'its content changed');
  return content;
}

function notAsArchived(file: string, why: string): TerrariumError {
  return new TerrariumError('ARCHIVE_CORRUPT', `${file} is no longer as archived (${why})`);
}
