import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import path from 'node:path';
import { Readable, type Transform } from 'node:stream';
import { TerrariumError } from '../errors.js';
import type { Entry } from './entry.js';
import { MANIFEST_PATH, type Manifest } from './manifest.js';
import { END_OF_ARCHIVE, encodeHeader, padding } from './tar-format.js';
import { sha256Hex, type TreeDigest } from './tree-digest.js';
import type { TreeProgress } from './writer-protocol.js';

/** Small entries are gathered into chunks of about this size; bigger files are read in pieces of it. */
const CHUNK = 1 << 20;

/**
 * Streams an environment as a tar through `encoder` (the codec), the manifest first so that a restore
 * knows what to rewrite before the files arrive. Files are read with synchronous calls as the encoder
 * asks for more (one stream of chunks, not one per entry): the encoder's backpressure bounds memory,
 * and zstd compresses on its own threads meanwhile. Owner names and ids are left out: an environment
 * belongs to whoever unpacks it.
 */
export function packEnvironment(
  root: string,
  entries: readonly Entry[],
  manifest: Manifest | undefined,
  encoder: Transform,
  progress: TreeProgress = { files: 0, bytes: 0 },
  transform?: PackTransform,
  tree?: TreeDigest,
): Readable {
  const tar = Readable.from(tarChunks(root, entries, manifest, progress, transform, tree), { objectMode: false, highWaterMark: CHUNK });
  // pipe() does not pass errors on: without this, a failed read would leave the reader waiting forever.
  tar.once('error', (error) => encoder.destroy(error));
  return tar.pipe(encoder);
}

/** Files whose packed bytes differ from those on disk (format 2 packs some with a placeholder prefix), as `apply(path, content)` gives them. */
export interface PackTransform {
  needs(path: string): boolean;
  apply(path: string, content: Buffer): Buffer;
}

function* tarChunks(
  root: string,
  entries: readonly Entry[],
  manifest: Manifest | undefined,
  progress: TreeProgress,
  transform: PackTransform | undefined,
  tree: TreeDigest | undefined,
): Generator<Buffer> {
  let parts: Buffer[] = [];
  let gathered = 0;
  const take = () => {
    const chunk = Buffer.concat(parts, gathered);
    parts = [];
    gathered = 0;
    return chunk;
  };
  const add = (bytes: Buffer) => {
    parts.push(bytes);
    gathered += bytes.length;
  };

  if (manifest) {
    const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
    add(encodeHeader({ path: MANIFEST_PATH, type: 'file', mode: 0o644, mtime: Date.parse(manifest.created), size: manifestBytes.length }));
    add(manifestBytes);
    add(padding(manifestBytes.length));
    tree?.manifest(manifestBytes);
  }
  for (const entry of entries) {
    if (entry.type !== 'file') {
      add(encodeHeader({ ...entry, size: 0 }));
      tree?.entry(entry);
    } else if (entry.size <= CHUNK || transform?.needs(entry.path)) {
      const read = readFileSync(path.join(root, entry.path));
      const content = transform?.needs(entry.path) ? transform.apply(entry.path, read) : read;
      add(encodeHeader({ ...entry, size: content.length }));
      tree?.entry({ ...entry, size: content.length }, tree && sha256Hex(content));
      add(content);
      add(padding(content.length));
      progress.files += 1;
      progress.bytes += content.length;
    } else {
      add(encodeHeader(entry));
      yield take();
      const hash = tree && createHash('sha256');
      for (const piece of fileChunks(root, entry)) {
        hash?.update(piece);
        yield piece;
      }
      tree?.entry(entry, hash?.digest('hex'));
      add(padding(entry.size));
      progress.files += 1;
      progress.bytes += entry.size;
    }
    if (gathered >= CHUNK) yield take();
  }
  add(END_OF_ARCHIVE);
  yield take();
}

/** A big file in pieces, exactly as many bytes as its header announced (or an error: it changed under us). */
function* fileChunks(root: string, entry: Entry): Generator<Buffer> {
  const file = path.join(root, entry.path);
  const fd = openSync(file, 'r');
  try {
    let left = entry.size;
    while (left > 0) {
      const piece = Buffer.allocUnsafe(Math.min(CHUNK, left));
      const read = readSync(fd, piece, 0, piece.length, null);
      if (read === 0) break;
      left -= read;
      yield read === piece.length ? piece : piece.subarray(0, read);
    }
    if (left !== 0 || readSync(fd, Buffer.alloc(1), 0, 1, null) !== 0) {
      throw new TerrariumError('BUILD_PACK_FAILED', `${file} changed while it was being packed`, {
        hint: 'run again once nothing else writes to the environment',
      });
    }
  } finally {
    closeSync(fd);
  }
}
