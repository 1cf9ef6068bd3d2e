import { createRequire } from 'node:module';
import { Transform } from 'node:stream';

type Binding = typeof import('zstd-napi/binding.js');

/** zstd parameters by their names in zstd-napi (`CParameter`); booleans are 1 and 0. */
export type ZstdParameters = Partial<Record<keyof Binding['CParameter'], number | boolean>>;

/**
 * One zstd compression context, and the buffers and threads it holds, for frame after frame: each
 * `frame()` stream compresses what is written to it into one frame. One frame at a time.
 */
export class ZstdEncoder {
  private readonly binding: Binding;
  private readonly cctx: InstanceType<Binding['CCtx']>;
  private readonly out: Buffer;

  constructor(parameters: ZstdParameters) {
    // Loaded on first use, like the rest of the native binding (see codecs.ts).
    this.binding = createRequire(import.meta.url)('zstd-napi/binding.js') as Binding;
    this.cctx = new this.binding.CCtx();
    for (const [name, value] of Object.entries(parameters)) {
      this.cctx.setParameter(this.binding.CParameter[name as keyof Binding['CParameter']], Number(value));
    }
    this.out = Buffer.allocUnsafe(this.binding.cStreamOutSize());
  }

  frame(): Transform {
    // A frame left unfinished by a failed stream is dropped; the parameters stay.
    this.cctx.reset(this.binding.ResetDirective.sessionOnly);
    const { EndDirective } = this.binding;
    const compress = (stream: Transform, input: Buffer, end: boolean) => {
      let left = input;
      for (;;) {
        const [remaining, produced, consumed] = this.cctx.compressStream2(this.out, left, end ? EndDirective.end : EndDirective.continue);
        if (produced > 0) stream.push(Buffer.from(this.out.subarray(0, produced)));
        left = left.subarray(consumed);
        if (left.length === 0 && (!end || remaining === 0)) return;
      }
    };
    return new Transform({
      transform(chunk: Buffer, _encoding, done) {
        try {
          compress(this, chunk, false);
          done();
        } catch (error) {
          done(error as Error);
        }
      },
      flush(done) {
        try {
          compress(this, Buffer.alloc(0), true);
          done();
        } catch (error) {
          done(error as Error);
        }
      },
    });
  }
}
