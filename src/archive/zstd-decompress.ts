import { createRequire } from 'node:module';

type Binding = typeof import('zstd-napi/binding.js');

/**
 * zstd decompression in pieces of the library's recommended output size, into one buffer used over
 * and over: each piece must be consumed before the next is asked for. Faster than a stream that allocates a
 * piece each time (docs/benchmark.md).
 */
export class ZstdDecoder {
  private readonly dctx: InstanceType<Binding['DCtx']>;
  private readonly out: Buffer;
  private inFrame = false;

  constructor() {
    // Loaded on first use, like the rest of the native binding (see codecs.ts).
    const binding = createRequire(import.meta.url)('zstd-napi/binding.js') as Binding;
    this.dctx = new binding.DCtx();
    this.out = Buffer.allocUnsafe(binding.dStreamOutSize());
  }

  /** The decompressed pieces of `input`, each a view of the same buffer, valid until the next is taken. */
  *decode(input: Uint8Array): Generator<Uint8Array> {
    let left = input;
    for (;;) {
      const [ret, produced, consumed] = this.dctx.decompressStream(this.out, left);
      left = left.subarray(consumed);
      // All input taken and the decoder has nothing more buffered (it did not fill the buffer).
      const finished = left.length === 0 && (produced < this.out.length || ret === 0);
      if (finished) this.inFrame = ret !== 0;
      if (produced > 0) yield this.out.subarray(0, produced);
      if (finished) return;
    }
  }

  finish(): void {
    if (this.inFrame) throw new Error('zstd stream ends in the middle of a frame (truncated archive)');
  }
}
