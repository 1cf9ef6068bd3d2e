// @ts-check
// The file system half of extraction and linking, on one of the writer's threads: plain synchronous
// calls, batch after batch, while the main thread decompresses and parses the next entries: faster
// than one promise per open/write/utimes/close on libuv's pool (docs/benchmark.md).
// Plain JavaScript (type-checked by tsc) so that the same file runs from src in tests and from dist.
import { closeSync, futimesSync, openSync, symlinkSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { linkFile, pathUnder, writeAll, writeNewFile } from '../io/file-ops.js';

/** @typedef {import('./writer-protocol.js').Batch} Batch */
/** @typedef {import('./writer-protocol.js').Op} Op */
/** @typedef {import('./writer-protocol.js').WriterReply} WriterReply */
/** @typedef {import('./writer-protocol.js').WriterSetup} WriterSetup */
/** @typedef {import('./writer-protocol.js').UnpackedCopy} UnpackedCopy */

/** Set by the first message. */
let root = '';
/** Set by each batch: the unpacked copy its files are linked from. */
/** @type {UnpackedCopy | undefined} */
let unpacked;
/** The unpacked copy, when this run writes it (it is not there yet): everything goes there too. */
/** @type {string | undefined} */
let copy;
/** Where file contents land first: the unpacked copy being written (then linked into root), else root. */
let first = '';
/** @type {import('../io/file-ops.js').LinkMethod | undefined} */
let method;
let failed = false;
/** @type {{ fd: number, path: string } | undefined} */
let open;

/**
 * @param {string} rel
 * @param {number} mtime
 */
function linkUnpacked(rel, mtime) {
  method = linkFile(
    pathUnder(/** @type {UnpackedCopy} */ (unpacked).root, rel),
    pathUnder(root, rel),
    /** @type {import('../io/file-ops.js').LinkMethod} */ (method),
    mtime,
  );
}

/**
 * @param {Op} op
 * @param {Uint8Array} data
 */
function run(op, data) {
  switch (op.kind) {
    case 'symlink':
      symlinkSync(op.target, pathUnder(root, op.path));
      if (copy) symlinkSync(op.target, pathUnder(copy, op.path));
      return;
    case 'link':
      linkUnpacked(op.path, op.mtime);
      return;
    case 'file': {
      writeNewFile(pathUnder(first, op.path), op.mode, data.subarray(op.offset, op.offset + op.length), op.mtime);
      if (!copy) return;
      // A file relocated for root is written anew there; the unpacked copy stays as the archive had it.
      if (op.rewritten)
        writeNewFile(pathUnder(root, op.path), op.mode, data.subarray(op.rewritten.offset, op.rewritten.offset + op.rewritten.length), op.mtime);
      else linkUnpacked(op.path, op.mtime);
      return;
    }
    case 'begin':
      open = { fd: openSync(pathUnder(first, op.path), 'wx', op.mode), path: op.path };
      return;
    case 'chunk':
      writeAll(/** @type {{ fd: number }} */ (open).fd, data.subarray(op.offset, op.offset + op.length));
      return;
    case 'end': {
      const { fd, path: rel } = /** @type {{ fd: number, path: string }} */ (open);
      open = undefined;
      try {
        futimesSync(fd, op.mtime / 1000, op.mtime / 1000);
      } finally {
        closeSync(fd);
      }
      if (copy) linkUnpacked(rel, op.mtime);
    }
  }
}

const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);

port.on('message', (/** @type {Batch | WriterSetup} */ message) => {
  if ('root' in message) {
    ({ root, method } = message);
    return;
  }
  const { ops, data } = message;
  unpacked = message.unpacked;
  copy = unpacked && !unpacked.existing ? unpacked.root : undefined;
  first = copy ?? root;
  const started = performance.now();
  /** @type {WriterReply} */
  let reply = { data, ok: true, method, ms: 0 };
  if (failed) reply = { data, ok: false };
  else {
    const bytes = new Uint8Array(data);
    try {
      for (const op of ops) run(op, bytes);
      reply.method = method;
      // How long the batch took: the writer adds a thread when the disk, not the CPU, holds it up.
      reply.ms = performance.now() - started;
    } catch (error) {
      failed = true;
      if (open !== undefined) closeSync(open.fd);
      const { message, code, path: errorPath } = /** @type {NodeJS.ErrnoException} */ (error);
      reply = { data, ok: false, error: { message, code, path: errorPath, unpacked: unpacked?.existing ? unpacked.root : undefined } };
    }
  }
  port.postMessage(reply, [data]);
});
