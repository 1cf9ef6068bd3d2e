import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MANIFEST_PATH } from '../../src/archive/manifest.js';
import { readArchive } from '../../src/archive/read.js';
import { END_OF_ARCHIVE, encodeHeader, padding } from '../../src/archive/tar-format.js';
import { testManifest } from '../helpers/manifest.js';
import { zstdCompress } from '../helpers/zstd.js';

function entry(name: string, content: Buffer): Buffer[] {
  return [encodeHeader({ path: name, type: 'file', mode: 0o644, mtime: 0, size: content.length }), content, padding(content.length)];
}

describe('archive reader', () => {
  it('hands a highly compressible archive over in small pieces, waiting for the reader between them', async () => {
    // A 64 KiB pattern repeated to 48 MiB compresses to a few KiB: one chunk of input holds it all.
    const pattern = randomBytes(64 * 1024);
    const big = Buffer.concat(Array.from({ length: 768 }, () => pattern));
    const manifest = Buffer.from(JSON.stringify(testManifest('/old')));
    const archive = await zstdCompress(Buffer.concat([...entry(MANIFEST_PATH, manifest), ...entry('big', big), END_OF_ARCHIVE]));
    let sinceDrain = 0;
    let most = 0;
    let received = 0;
    await readArchive(
      [Readable.from([archive])],
      'zstd',
      {
        manifest: () => ({
          entry: () => undefined,
          data: (bytes) => {
            received += bytes.length;
            sinceDrain += bytes.length;
            most = Math.max(most, sinceDrain);
          },
          end: () => undefined,
        }),
        drain: async () => {
          sinceDrain = 0;
          await new Promise((resolve) => setImmediate(resolve));
        },
      },
      'test',
    );
    expect(received).toBe(big.length);
    expect(most).toBeLessThanOrEqual(256 * 1024);
  });

  it('refuses a manifest too large to be one, before reading it', async () => {
    const header = encodeHeader({ path: MANIFEST_PATH, type: 'file', mode: 0o644, mtime: 0, size: 64 << 20 });
    const error = await readArchive(
      [Readable.from([header])],
      'none',
      { manifest: () => ({ entry: () => undefined, data: () => undefined, end: () => undefined }) },
      'test',
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ARCHIVE_CORRUPT', message: 'archive manifest of 67108864 bytes' });
  });
});
