import { availableParallelism } from 'node:os';
import { PassThrough, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import type { Codec } from './codec-names.js';
import { ZstdEncoder } from './zstd-compress.js';

// The native zstd binding is loaded when an archive is first packed or unpacked, not by commands that
// never touch one (key, hash): start-up time is what those commands cost.
const zstd = () => createRequire(import.meta.url)('zstd-napi') as typeof import('zstd-napi');

/**
 * Measured on the benchmark corpus (203 MB of tar): level 3 made 28.9 MB in 1.0 s, larger than gzip -6
 * (25.2 MB in 5.5 s); level 6 with long-distance matching over a 16 MiB window makes 21.1 MB in 1.5 s
 * and decompresses faster (less to read). The window bounds the decoder's memory at 16 MiB. With one
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
 * collected, took 40 MB more and 0.8 s longer to pack the benchmark's 48 layers.
 */
export function compressors(codec: Codec): () => Transform {
  if (codec !== 'zstd') return () => compressor(codec);
  const encoder = new ZstdEncoder(ZSTD_PARAMETERS());
  return () => encoder.frame();
}
