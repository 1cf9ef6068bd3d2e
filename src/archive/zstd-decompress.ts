import { createRequire } from 'node:module';
import { Transform, type TransformCallback } from 'node:stream';

type Binding = typeof import('zstd-napi/binding.js');

/**
 * zstd decompression in pieces of the library's recommended output size, into one buffer used over
 * and over: each piece must be consumed before the next is asked for. Decompressing the benchmark's
 * archive this way took 240 ms, against 333 ms through a stream that allocates a piece each time.
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

/**
 * ZstdDecoder as a stream that stops when its reader is full. zstd-napi's own DecompressStream pushes
 * all the output of an input chunk at once: an archive holding highly repetitive data (a 64 KiB
 * pattern repeated into a 26 MiB file, say) turned one 64 KiB chunk into 26 MiB held in memory, which
 * took a 1 GB restore to 260 MB of RSS. Here the rest of a chunk waits until the stream is read again.
 */
export class ZstdDecompressStream extends Transform {
  private readonly decoder = new ZstdDecoder();
  private input: { pieces: Generator<Uint8Array>; done: TransformCallback } | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.input = { pieces: this.decoder.decode(chunk), done };
    this.pump();
  }

  override _read(size: number): void {
    if (this.input) this.pump();
    // Once the chunk is used up, let the Transform take the next one. Also when pump just used it up
    // without pushing: nothing else would call _read again, and the stream would wait forever.
    if (!this.input) super._read(size);
  }

  override _flush(done: TransformCallback): void {
    try {
      this.decoder.finish();
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  private pump(): void {
    const input = this.input!;
    try {
      for (;;) {
        const next = input.pieces.next();
        if (next.done) {
          this.input = undefined;
          input.done();
          return;
        }
        // The decoder reuses its buffer: what is pushed must be a copy.
        if (!this.push(Buffer.from(next.value))) return; // _read comes back for the rest
      }
    } catch (error) {
      this.input = undefined;
      input.done(error as Error);
    }
  }
}
