import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  promises as fs,
  fstatSync,
  lstatSync,
  openSync,
  type ReadStream,
  readdirSync,
  readSync,
  rmdirSync,
  type Stats,
  unlinkSync,
} from 'node:fs';
import path from 'node:path';
import { isErrno } from '../errors.js';
import { failpoint } from './failpoint.js';
import { HOST_TAG, type Owner } from './owner.js';

/**
 * A sibling name that no other process picks: same directory, so a later rename stays on one file
 * system. It names its owner (host and pid), so that a later run can tell a leftover of a dead process
 * from the work of a live one.
 */
export function siblingPath(target: string, tag: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${tag}-${HOST_TAG}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

export interface SiblingName extends Owner {
  /** Base name of the path the sibling belongs to. */
  of: string;
  tag: string;
}

const SIBLING_NAME = /^\.(.+)\.([a-z]+)-([0-9a-f]{8})-([1-9][0-9]{0,9})-[0-9a-f]{8}$/;

/** The parts of a name made by siblingPath, or undefined for any other name. */
export function parseSiblingName(name: string): SiblingName | undefined {
  const match = SIBLING_NAME.exec(name);
  if (!match) return undefined;
  return { of: match[1]!, tag: match[2]!, host: match[3]!, pid: Number(match[4]) };
}

export interface AtomicWrite {
  mode?: number;
  /** Only where nothing is yet (link(2), which NFS does atomically too): false when something is there. */
  create?: boolean;
  /** fsync before placing (default): a power cut leaves the old content or the new, never an empty file. */
  durable?: boolean;
  /** A crash point between the temporary file and its placing (io/failpoint.ts). */
  failpoint?: string;
}

/** Writes a whole file so that readers see either the old content (or nothing) or the new, never a part; false only when `create` found something there. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, options: AtomicWrite = {}): Promise<boolean> {
  const temp = siblingPath(file, 'tmp');
  try {
    const handle = await fs.open(temp, 'wx', options.mode ?? 0o644);
    try {
      await handle.writeFile(data);
      if (options.durable !== false) await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.failpoint) failpoint(options.failpoint);
    if (!options.create) {
      await fs.rename(temp, file);
      return true;
    }
    await fs.link(temp, file);
    return true;
  } catch (error) {
    if (options.create && isErrno(error, 'EEXIST')) return false;
    throw error;
  } finally {
    await fs.rm(temp, { force: true });
  }
}

/** Whether `p` is there (through a symlink, its target). */
export const pathExists = (p: string): Promise<boolean> =>
  fs.access(p).then(
    () => true,
    () => false,
  );

/** What is at `p` (a symlink is not followed), or undefined only when nothing is: other failures (EACCES) are thrown, never taken for "missing". */
export async function lstatOrMissing(p: string): Promise<Stats | undefined> {
  try {
    return await fs.lstat(p);
  } catch (error) {
    if (isErrno(error, 'ENOENT', 'ENOTDIR')) return undefined;
    throw error;
  }
}

/** The same, through a symlink to what it names. */
export async function statOrMissing(p: string): Promise<Stats | undefined> {
  try {
    return await fs.stat(p);
  } catch (error) {
    if (isErrno(error, 'ENOENT', 'ENOTDIR')) return undefined;
    throw error;
  }
}

/** What is at `p` (a symlink is not followed); 'missing' only when nothing is: other failures (EACCES) are thrown. */
export async function pathKind(p: string): Promise<'missing' | 'directory' | 'file' | 'symlink' | 'other'> {
  try {
    const stat = await fs.lstat(p);
    if (stat.isSymbolicLink()) return 'symlink';
    if (stat.isDirectory()) return 'directory';
    return stat.isFile() ? 'file' : 'other';
  } catch (error) {
    if (isErrno(error, 'ENOENT', 'ENOTDIR')) return 'missing';
    throw error;
  }
}

/**
 * A stream of at most `maxBytes` (one more, so that a longer file shows as longer) of a regular file:
 * what a store or the cache holds under a blob's name may be a FIFO, which would block the open until
 * someone writes to it, a link to `/dev/zero`, or a directory. Opened non-blocking and refused at
 * once (ENOTREG, EISDIR) unless it is a regular file.
 */
export async function openRegular(file: string, maxBytes: number): Promise<ReadStream> {
  const handle = await fs.open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw Object.assign(new Error(`${file} is not a regular file`), { code: stat.isDirectory() ? 'EISDIR' : 'ENOTREG', path: file });
  } catch (error) {
    await handle.close();
    throw error;
  }
  return handle.createReadStream({ start: 0, end: maxBytes });
}

/**
 * Whether every folder of `rel` under `root` is a real directory, none a symlink: what terrarium
 * deletes in (a store's blobs, a key's folder, the cache's trees) must never lead out of what it owns,
 * whoever planted the link. False too when one is missing: nothing to delete there.
 */
export async function isRealFolder(root: string, rel: string): Promise<boolean> {
  let current = root;
  for (const part of path
    .normalize(rel)
    .split('/')
    .filter((p) => p && p !== '.')) {
    if (part === '..') return false;
    current = path.join(current, part);
    const stat = await lstatOrMissing(current);
    if (!stat?.isDirectory()) return false;
  }
  return true;
}

/**
 * A whole small file, refused (errno-style codes ENOTREG, EFBIG) unless it is a regular file of at most
 * `maxBytes`: what terrarium reads whole (requirement files, records, indexes) may be /dev/zero, a FIFO
 * or a planted giant. Opened non-blocking, so a FIFO is refused instead of waiting for a writer;
 * `noFollow`: a symlink is refused too (ELOOP), for files that must be the file itself.
 */
export function readBoundedSync(file: string, maxBytes: number, { noFollow = false } = {}): Buffer {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | (noFollow ? constants.O_NOFOLLOW : 0));
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw Object.assign(new Error(`${file} is not a regular file`), { code: stat.isDirectory() ? 'EISDIR' : 'ENOTREG', path: file });
    if (stat.size > maxBytes) throw tooLarge(file, maxBytes);
    // One byte more than allowed: a file that grew since fstat is caught too.
    const buffer = Buffer.alloc(Math.min(stat.size, maxBytes) + 1);
    let length = 0;
    while (length < buffer.length) {
      const got = readSync(fd, buffer, length, buffer.length - length, null);
      if (got === 0) break;
      length += got;
    }
    if (length > maxBytes) throw tooLarge(file, maxBytes);
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

function tooLarge(file: string, maxBytes: number): Error {
  return Object.assign(new Error(`${file} is larger than ${maxBytes} bytes`), { code: 'EFBIG', path: file });
}

/** Up to `length` bytes from the start of a file (to tell what kind of file it is without reading it all). */
/** The names in a folder, or none where it is missing or unreadable (a lookup among optional places). */
export function listOrEmptySync(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export function readStart(file: string, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(length);
    return head.subarray(0, readSync(fd, head, 0, length, 0));
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes a file or a folder with everything in it; nothing there is fine. One readdir per folder and
 * one unlink per entry, synchronously, symlinks removed and never followed: several times faster than
 * fs.rm (an lstat and retries per entry; docs/benchmark.md), which every install that replaces an
 * environment pays for its old backup. Anything unusual on the way (a folder
 * it may not read, a file it may not remove) is left to fs.rm, which retries and reports.
 */
export async function removeTree(p: string): Promise<void> {
  try {
    removeTreeSync(p);
  } catch {
    await fs.rm(p, { recursive: true, force: true, maxRetries: 3 });
  }
}

/**
 * Removes trees that nothing needs any more (a displaced backup) after this process has gone, by a
 * detached `rm -rf`: a repeat install into the same target does not wait for the old backup's
 * unlinks, a quarter of its time on ext4. The paths must be siblingPath names, so that
 * what rm leaves (killed, a file it may not remove) is swept by a later run like any leftover. Where rm
 * cannot be started, they are removed here and now.
 */
export async function removeTreesLater(paths: readonly string[]): Promise<void> {
  if (!paths.length) return;
  // Only PATH: nothing else of this run's environment (S3 credentials among it) outlives the run.
  const child = spawn('rm', ['-rf', '--', ...paths], { detached: true, stdio: 'ignore', env: { PATH: process.env.PATH } });
  child.on('error', () => undefined);
  if (child.pid === undefined) {
    for (const p of paths) await removeTree(p);
    return;
  }
  child.unref();
}

function removeTreeSync(p: string): void {
  let stat: Stats;
  try {
    stat = lstatSync(p);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return;
    throw error;
  }
  // A symlink to a folder is removed itself: readdir would follow it.
  if (stat.isDirectory()) removeFolderSync(p);
  else unlinkSync(p);
}

/** Entries' types come with the listing, so links inside are unlinked, never followed. */
function removeFolderSync(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const child = `${dir}/${entry.name}`;
    if (entry.isDirectory()) removeFolderSync(child);
    else unlinkSync(child);
  }
  rmdirSync(dir);
}
