import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { TerrariumError } from '../errors.js';

/** How a sha256 is written in names, records and reports. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Passes bytes through while taking their sha256 and count: archives are verified as they stream.
 * `limit`: more bytes than this (the size its record states) stop the stream at once, as a damaged
 * archive, instead of after however much a hostile store sends. `prehash`: also take the BLAKE2b-512
 * that minisign signs.
 */
export class ChecksumStream extends Transform {
  private readonly hash = createHash('sha256');
  private readonly blake: Hash | undefined;
  bytes = 0;

  constructor(private readonly options: { limit?: number; prehash?: boolean } = {}) {
    super();
    this.blake = options.prehash ? createHash('blake2b512') : undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.options.limit !== undefined && this.bytes > this.options.limit) {
      done(
        new TerrariumError('ARCHIVE_CORRUPT', `it is larger than the ${this.options.limit} bytes recorded for it`, {
          hint: 'the stored copy is damaged or was replaced; it is rebuilt with --no-download',
        }),
      );
      return;
    }
    this.hash.update(chunk);
    this.blake?.update(chunk);
    done(null, chunk);
  }

  /** Only valid once the stream has ended. */
  hex(): string {
    return this.hash.copy().digest('hex');
  }

  /** BLAKE2b-512 of the bytes (with `prehash` only); valid once the stream has ended. */
  prehash(): Buffer | undefined {
    return this.blake?.copy().digest();
  }
}
