import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compressor } from '../../src/archive/codecs.js';

/** `data` compressed the way terrarium packs archives (its own zstd settings). */
export async function zstdCompress(data: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(
    Readable.from([data]),
    compressor('zstd'),
    new Writable({
      write: (chunk: Buffer, _e, done) => {
        chunks.push(chunk);
        done();
      },
    }),
  );
  return Buffer.concat(chunks);
}
