import { createRequire } from 'node:module';
import { Transform, type TransformCallback } from 'node:stream';

type Binding = typeof import('zstd-napi/binding.js');

/**
 * zstd decompression that stops when the reader is full. zstd-napi's own DecompressStream pushes all
 * the output of an input chunk at once: an archive holding highly repetitive data (a 64 KiB pattern
 * repeated into a 26 MiB file, say) turned one 64 KiB chunk into 26 MiB held in memory, which took a
 * 1 GB restore to 260 MB of RSS. Here each input chunk is decompressed in pieces of the library's
 * recommended output size, and the rest waits until the stream is read again.
 */
export class ZstdDecompressStream extends Transform {
  private readonly binding: Binding;
  private readonly dctx: InstanceType<Binding['DCtx']>;
  private readonly pieceSize: number;
  private input: { left: Buffer; done: TransformCallback } | undefined;
  private inFrame = false;

  constructor() {
    super();
    // Loaded on first use, like the rest of the native binding (see codecs.ts).
    this.binding = createRequire(import.meta.url)('zstd-napi/binding.js') as Binding;
    this.dctx = new this.binding.DCtx();
    this.pieceSize = this.binding.dStreamOutSize();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.input = { left: chunk, done };
    this.pump();
  }

  override _read(size: number): void {
    if (this.input) this.pump();
    // Once the chunk is used up, let the Transform take the next one. Also when pump just used it up
    // without pushing: nothing else would call _read again, and the stream would wait forever.
    if (!this.input) super._read(size);
  }

  override _flush(done: TransformCallback): void {
    done(this.inFrame ? new Error('zstd stream ends in the middle of a frame (truncated archive)') : null);
  }

  private pump(): void {
    const input = this.input!;
    try {
      for (;;) {
        const piece = Buffer.allocUnsafe(this.pieceSize);
        const [ret, produced, consumed] = this.dctx.decompressStream(piece, input.left);
        input.left = input.left.subarray(consumed);
        const wantsMore = produced > 0 ? this.push(piece.subarray(0, produced)) : true;
        // All input taken and the decoder has nothing more buffered (it did not fill the piece).
        if (input.left.length === 0 && (produced < piece.length || ret === 0)) {
          this.inFrame = ret !== 0;
          this.input = undefined;
          input.done();
          return;
        }
        if (!wantsMore) return; // _read comes back for the rest
      }
    } catch (error) {
      this.input = undefined;
      input.done(error as Error);
    }
  }
}
