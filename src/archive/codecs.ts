import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { PassThrough, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import type { Codec } from './codec-names.js';
import { ZstdEncoder } from './zstd-compress.js';

// The native zstd binding is loaded when an archive is first packed or unpacked, not by commands that
// never touch one (key, hash): start-up time is what those commands cost.
const zstd = () => createRequire(import.meta.url)('zstd-napi') as typeof import('zstd-napi');

/**
 * Level 6 with long-distance matching over a 16 MiB window: smaller than gzip -6 where level 3 is
 * larger, and faster to decompress (less to read; docs/benchmark.md). The window bounds the decoder's memory at 16 MiB. With one
 * worker or more, the output does not depend on their number (checked for 1 to 8): the same input packs
 * to the same bytes on any machine, which layers rely on.
 */
export const ZSTD_PARAMETERS = () => ({
  compressionLevel: 6,
  enableLongDistanceMatching: true,
  windowLog: 24,
  nbWorkers: availableParallelism(),
  checksumFlag: true,
});

export function compressor(codec: Codec): Transform {
  switch (codec) {
    case 'zstd':
      return new (zstd().CompressStream)(ZSTD_PARAMETERS());
    case 'gzip':
      return zlib.createGzip({ level: 6 });
    case 'none':
      return new PassThrough();
  }
}

/** The other codecs' decoders; zstd (every archive terrarium makes) is read by ZstdDecoder, piece by piece. */
export function decompressor(codec: Exclude<Codec, 'zstd'>): Transform {
  switch (codec) {
    case 'gzip':
      return zlib.createGunzip();
    case 'none':
      return new PassThrough();
  }
}

/**
 * Compressors for archives made one after another (a layered archive's layers): for zstd, one context
 * (and its threads) for all, each archive a frame of its own. A context per layer, freed only when
 * collected, took more memory and time (docs/benchmark.md).
 */
export function compressors(codec: Codec): () => Transform {
  if (codec !== 'zstd') return () => compressor(codec);
  const encoder = new ZstdEncoder(ZSTD_PARAMETERS());
  return () => encoder.frame();
}
