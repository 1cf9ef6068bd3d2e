import { availableParallelism } from 'node:os';
import { PassThrough, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';

// The native zstd binding is loaded when an archive is first packed or unpacked, not by commands that
// never touch one (key, hash): start-up time is what those commands cost.
const zstd = () => createRequire(import.meta.url)('zstd-napi') as typeof import('zstd-napi');

export const CODECS = ['zstd', 'gzip', 'none'] as const;
export type Codec = (typeof CODECS)[number];

export const CODEC_EXTENSION: Record<Codec, string> = { zstd: '.tar.zst', gzip: '.tar.gz', none: '.tar' };

export function compressor(codec: Codec): Transform {
  switch (codec) {
    case 'zstd':
      // Level 3 with one worker per core: zstd's own default level, and packing keeps up with pip's disk I/O.
      return new (zstd().CompressStream)({ compressionLevel: 3, nbWorkers: availableParallelism(), checksumFlag: true });
    case 'gzip':
      return zlib.createGzip({ level: 6 });
    case 'none':
      return new PassThrough();
  }
}

export function decompressor(codec: Codec): Transform {
  switch (codec) {
    case 'zstd':
      return new (zstd().DecompressStream)();
    case 'gzip':
      return zlib.createGunzip();
    case 'none':
      return new PassThrough();
  }
}
