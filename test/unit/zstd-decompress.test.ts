import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ZstdDecoder } from '../../src/archive/zstd-decompress.js';
import { zstdCompress } from '../helpers/zstd.js';

/** Decodes `packed` fed in 64 KiB pieces, as a file or network stream would; returns the sha256 and the largest piece handed out. */
function decodeInPieces(packed: Buffer): { sha256: string; largest: number } {
  const decoder = new ZstdDecoder();
  const hash = createHash('sha256');
  let largest = 0;
  for (let at = 0; at < packed.length; at += 65536) {
    for (const piece of decoder.decode(packed.subarray(at, at + 65536))) {
      hash.update(piece);
      largest = Math.max(largest, piece.length);
    }
  }
  decoder.finish();
  return { sha256: hash.digest('hex'), largest };
}

const pattern = randomBytes(64 * 1024);

describe('zstd decompression (ZstdDecoder)', () => {
  it.each([
    ['random data', () => randomBytes(8 << 20)],
    ['a 64 KiB pattern repeated to 48 MiB (thousands to one)', () => Buffer.concat(Array.from({ length: 768 }, () => pattern))],
    ['empty', () => Buffer.alloc(0)],
  ])('round-trips %s, handing it out in small pieces whatever the ratio', async (_, make) => {
    const data = make();
    const { sha256, largest } = decodeInPieces(await zstdCompress(data));
    expect(sha256).toBe(createHash('sha256').update(data).digest('hex'));
    // One reused buffer of zstd's recommended output size (128 KiB), never the whole of a chunk's output.
    expect(largest).toBeLessThanOrEqual(256 << 10);
  });

  it('refuses a truncated stream', async () => {
    const packed = await zstdCompress(randomBytes(1 << 20));
    expect(() => decodeInPieces(packed.subarray(0, packed.length - 100))).toThrow(/middle of a frame/);
  });

  it('refuses bytes that are not zstd', () => {
    expect(() => decodeInPieces(Buffer.from('not a zstd frame at all, just text'))).toThrow();
  });
});
