import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { TerrariumError } from '../errors.js';
import { pathUnder } from '../io/file-ops.js';
import { readBoundedSync } from '../io/fs.js';
import { MAX_RELOCATED_BYTES } from '../relocate/relocator.js';

/** What an unpacked copy's index says of one of its files. */
interface AsArchived {
  size: number;
  mtime: number;
  /** The inode it was committed as (absent in indexes of earlier versions). */
  ino?: number | undefined;
}

/**
 * A hard link shares the file with every environment linked from it: one edited in place (not replaced,
 * as pip and editors do) changes the copy in the cache. Its size or mtime then differs from the index,
 * and the copy is not used again. One lstat per file, while the writer's thread links.
 */
export function checkAsArchived(file: string, { size, mtime, ino }: AsArchived): void {
  const stat = lstatSync(file);
  // A symlink put in a file's place, with the same size and mtime, would be linked to whatever it names.
  if (!stat.isFile()) throw notAsArchived(file, 'it is no longer a regular file');
  if (stat.size !== size || Math.trunc(stat.mtimeMs / 1000) !== Math.trunc(mtime / 1000)) {
    throw notAsArchived(file, 'size or mtime changed: edited in place through a hard link?');
  }
  // Another inode: the file was replaced, perhaps by a hard link to a file outside the cache, which an environment would then write through.
  if (ino !== undefined && stat.ino !== ino) throw notAsArchived(file, 'it is another file than the one unpacked there');
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

const PIECE = 1 << 20;
const piece = Buffer.allocUnsafe(PIECE);

/**
 * A file of an unpacked copy read whole, in pieces given to `take` as they come, for an install that
 * checks what it links against a signature: exactly `size` bytes of a regular file, never through a
 * symlink. Returns their sha256.
 */
export function readLinked(file: string, size: number, take: (piece: Buffer) => void): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw notAsArchived(file, 'it is no longer a regular file');
    if (stat.size !== size) throw notAsArchived(file, 'its size changed');
    const hash = createHash('sha256');
    for (let left = size; left > 0; ) {
      // One buffer for every piece: \`take\` copies what it keeps.
      const got = readSync(fd, piece, 0, Math.min(PIECE, left), null);
      if (got === 0) throw notAsArchived(file, 'its size changed');
      left -= got;
      const read = piece.subarray(0, got);
      hash.update(read);
      take(read);
    }
    return hash.digest('hex');
  } finally {
    closeSync(fd);
  }
}

/**
 * The folders of an unpacked copy that files are linked from, each checked once to be a real folder:
 * a folder swapped for a symlink would have files linked from wherever it points.
 */
export class TreeFolders {
  private readonly checked = new Set<string>(['.']);

  constructor(private readonly root: string) {
    if (!lstatSync(root).isDirectory()) throw notAsArchived(root, 'it is no longer a folder');
  }

  /** Checks the folders on the way to `rel` (a path in the tree). */
  check(rel: string): void {
    const folder = path.posix.dirname(rel);
    if (this.checked.has(folder)) return;
    this.check(folder);
    const dir = pathUnder(this.root, folder);
    if (!lstatSync(dir).isDirectory()) throw notAsArchived(dir, 'it is no longer a folder');
    this.checked.add(folder);
  }
}

export function notAsArchived(file: string, why: string): TerrariumError {
  return new TerrariumError('ARCHIVE_CORRUPT', `${file} is no longer as archived (${why})`);
}
