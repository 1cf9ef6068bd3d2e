import { createWriteStream, promises as fs } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Platform } from '../python/fingerprint.js';
import type { BundleFacts } from '../python/portable.js';
import { ChecksumStream } from './checksum.js';
import type { Codec } from './codec-names.js';
import type { Layer } from './layers.js';

/**
 * An archive packed (or downloaded and verified) into a local file, or a layered one (format 2) into a
 * folder of layer files: its checksum known before publishing.
 */
export interface LocalArchive {
  path: string;
  /** Format 2: its layers, each a file of its own (`sha256` is then the layers document's, `size` and the counts their sums). */
  layers?: LocalLayer[] | undefined;
  sha256: string;
  size: number;
  codec: Codec;
  unpackedSize: number;
  entries: number;
  /** Its minisign signature (the .minisig file's text), published beside it. */
  signature?: string | undefined;
  /** What it was built from, for the record (requirement lines, locked packages as name==version). */
  requirements?: string[] | undefined;
  /** What it runs on, for the record. */
  platform?: Platform | undefined;
  /** The interpreter it carries (a portable archive), for the record. */
  portable?: BundleFacts | undefined;
}

/**
 * Writes an archive stream to a new file, measuring it on the way: the form every store publishes from.
 * `counts`: what it unpacks to (file bytes, tar entries), recorded for restores to hold it to.
 */
export async function saveArchive(source: Readable, file: string, codec: Codec, counts: { unpackedSize: number; entries: number }): Promise<LocalArchive> {
  const checksum = new ChecksumStream();
  try {
    await pipeline(source, checksum, createWriteStream(file, { flags: 'wx', mode: 0o644 }));
  } catch (error) {
    await fs.rm(file, { force: true });
    throw error;
  }
  return { path: file, sha256: checksum.hex(), size: checksum.bytes, codec, ...counts };
}

/** A layer packed into a local file. */
export interface LocalLayer extends Layer {
  path: string;
}
