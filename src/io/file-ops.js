// @ts-check
// Synchronous file creation shared by the writer's threads and the writer itself (folders). Plain
// JavaScript (type-checked by tsc): the worker imports it, and the worker runs from src in tests.
import { closeSync, constants, copyFileSync, futimesSync, linkSync, lstatSync, mkdirSync, openSync, utimesSync, writeSync } from 'node:fs';

/**
 * `rel` is normalised and checked (no `.`, `..` or empty parts): plain concatenation names the same
 * file as path.join, without its normalising (3% of a writer thread's time).
 * @param {string} dir
 * @param {string} rel
 */
export function pathUnder(dir, rel) {
  return `${dir}/${rel}`;
}

/**
 * A folder that may already exist as a folder (made as the parent of an earlier entry), never as anything else.
 * @param {string} dir
 * @param {number} mode
 */
export function makeDirectory(dir, mode) {
  try {
    mkdirSync(dir, { mode: mode | 0o700 });
  } catch (error) {
    if (/** @type {NodeJS.ErrnoException} */ (error).code !== 'EEXIST' || !lstatSync(dir).isDirectory()) throw error;
  }
}

/**
 * O_EXCL: nothing is ever written through a path that already exists (a link, a duplicate entry).
 * @param {string} file
 * @param {number} mode
 * @param {Uint8Array} bytes
 * @param {number} mtimeMs
 */
export function writeNewFile(file, mode, bytes, mtimeMs) {
  const fd = openSync(file, 'wx', mode);
  try {
    writeAll(fd, bytes);
    futimesSync(fd, mtimeMs / 1000, mtimeMs / 1000);
  } finally {
    closeSync(fd);
  }
}

/**
 * @param {number} fd
 * @param {Uint8Array} bytes
 */
export function writeAll(fd, bytes) {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
}

/** @typedef {'clone' | 'hardlink' | 'copy'} LinkMethod */

/** Safest first: a clone shares nothing writable, a hard link shares the file itself, a copy always works. */
export const LINK_METHODS = /** @type {const} */ (['clone', 'hardlink', 'copy']);

/** Errors meaning "this file system (or this pair of places) cannot do that", not "this file failed". */
const UNSUPPORTED = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'ENOSYS', 'EINVAL', 'EPERM', 'EMLINK', 'ENOTTY']);

/**
 * Makes `to` a new file with the content, mode and mtime of `from` (a file terrarium owns in its cache),
 * by `method`; when the file system cannot, by the next method in LINK_METHODS. Returns the method
 * that worked, which the caller passes next time so that the probing happens once.
 * @param {string} from
 * @param {string} to
 * @param {LinkMethod} method
 * @param {number} mtimeMs the mtime to give clones and copies (a hard link shares its own)
 * @returns {LinkMethod}
 */
export function linkFile(from, to, method, mtimeMs) {
  for (let i = LINK_METHODS.indexOf(method); ; i++) {
    const current = LINK_METHODS[i];
    try {
      if (current === 'hardlink') {
        linkSync(from, to);
      } else {
        // O_EXCL semantics: never written through a path that already exists.
        const flags = constants.COPYFILE_EXCL | (current === 'clone' ? constants.COPYFILE_FICLONE_FORCE : 0);
        copyFileSync(from, to, flags);
        utimesSync(to, mtimeMs / 1000, mtimeMs / 1000);
      }
      return current;
    } catch (error) {
      const code = /** @type {NodeJS.ErrnoException} */ (error).code;
      if (current === 'copy' || !UNSUPPORTED.has(code ?? '')) throw error;
    }
  }
}
