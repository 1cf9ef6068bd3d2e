import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import tar from 'tar-stream';
import { compressor } from '../../src/archive/codecs.js';
import { END_OF_ARCHIVE, encodeHeader, padding } from '../../src/archive/tar-format.js';
import { ZstdDecompressStream } from '../../src/archive/zstd-decompress.js';

async function compress(data: Buffer): Promise<Buffer> {
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

/** A consumer that takes its time, so that backpressure matters, and records how much sat unread. */
function slowSink(hash: ReturnType<typeof createHash>, stats: { maxBuffered: number }, source: () => Readable): Writable {
  return new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      stats.maxBuffered = Math.max(stats.maxBuffered, source().readableLength);
      setImmediate(done);
    },
  });
}

describe('zstd decompression', () => {
  it.each([
    ['random data', () => randomBytes(8 << 20)],
    ['a 64 KiB pattern repeated to 48 MiB (thousands to one)', () => Buffer.concat(Array.from({ length: 768 }, () => pattern))],
    ['empty', () => Buffer.alloc(0)],
  ])('round-trips %s and holds little of it at a time for a slow reader', async (_, make) => {
    const data = make();
    const packed = await compress(data);
    const hash = createHash('sha256');
    const stats = { maxBuffered: 0 };
    const decompress = new ZstdDecompressStream();
    // Fed in 64 KiB pieces, as a file or network stream would.
    const pieces = Array.from({ length: Math.ceil(packed.length / 65536) }, (_, i) => packed.subarray(i * 65536, (i + 1) * 65536));
    await pipeline(
      Readable.from(pieces),
      decompress,
      slowSink(hash, stats, () => decompress),
    );
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(stats.maxBuffered).toBeLessThan(2 << 20);
  });

  it('feeds tar-stream to the end (a chunk used up without output once left the stream waiting forever)', async () => {
    const entries: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const content = i % 8 === 0 ? Buffer.concat(Array.from({ length: 128 }, () => pattern)) : randomBytes(3000);
      entries.push(encodeHeader({ name: `f${i}`, type: 'file', mode: 0o644, mtime: new Date(0), size: content.length }), content, padding(content.length));
    }
    const packed = await compress(Buffer.concat([...entries, END_OF_ARCHIVE]));
    const pieces = Array.from({ length: Math.ceil(packed.length / 65536) }, (_, i) => packed.subarray(i * 65536, (i + 1) * 65536));
    const extract = tar.extract();
    let seen = 0;
    extract.on('entry', (_header, stream, next) => {
      seen += 1;
      stream.on('end', next);
      stream.resume();
    });
    await pipeline(Readable.from(pieces), new ZstdDecompressStream(), extract);
    expect(seen).toBe(40);
  }, 20_000);

  it('refuses a truncated stream', async () => {
    const packed = await compress(randomBytes(1 << 20));
    await expect(
      pipeline(Readable.from([packed.subarray(0, packed.length - 100)]), new ZstdDecompressStream(), new Writable({ write: (_c, _e, done) => done() })),
    ).rejects.toThrow(/middle of a frame/);
  });

  it('refuses bytes that are not zstd', async () => {
    await expect(
      pipeline(
        Readable.from([Buffer.from('not a zstd frame at all, just text')]),
        new ZstdDecompressStream(),
        new Writable({ write: (_c, _e, done) => done() }),
      ),
    ).rejects.toThrow();
  });
});

const pattern = randomBytes(64 * 1024);
