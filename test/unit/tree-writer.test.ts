import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TreeWriter } from '../../src/archive/tree-writer.js';

let work: string;
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), 'terrarium-writer-'));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

/** Bytes that differ from file to file and along each file, so that a piece in the wrong place shows. */
function content(seed: number, size: number): Buffer {
  const bytes = Buffer.alloc(size + 3);
  for (let i = 0; i < size; i += 4) bytes.writeUInt32LE((seed * 2654435761 + i) >>> 0, i);
  return bytes.subarray(0, size);
}

describe('TreeWriter', () => {
  it.each([1, 2])('writes a tree exactly, with %i thread(s): small files over many batches, streamed large files, links', async (threads) => {
    const root = path.join(work, 'root');
    mkdirSync(root);
    const writer = new TreeWriter(root, { threads });
    const files = new Map<string, Buffer>();
    const mtime = new Date('2024-01-02T03:04:05Z');
    for (let d = 0; d < 30; d++) {
      writer.dir(`pkg${d}`, 0o755);
      writer.dir(`pkg${d}/sub`, 0o755);
      for (let f = 0; f < 60; f++) {
        const name = `pkg${d}/${f % 2 ? 'sub/' : ''}m${f}.py`;
        const bytes = content(d * 100 + f, 1 + ((d * 7919 + f * 104729) % 20000));
        files.set(name, bytes);
        writer.file(name, 0o644, mtime, bytes);
      }
      if (d % 10 === 3) {
        // Larger than a batch: streamed in pieces of odd sizes, over several batches.
        const name = `pkg${d}/big.so`;
        const bytes = content(d, 9 * 1024 * 1024 + 13);
        files.set(name, bytes);
        writer.open(name, 0o755, bytes.length);
        for (let at = 0; at < bytes.length; at += 700_001) writer.write(bytes.subarray(at, at + 700_001));
        writer.close(mtime);
      }
      writer.symlink(`pkg${d}/link`, 'sub');
      await writer.ready();
    }
    await writer.finish();
    for (const [name, bytes] of files) {
      expect(readFileSync(path.join(root, name)).equals(bytes), name).toBe(true);
      expect(lstatSync(path.join(root, name)).mtimeMs).toBe(mtime.getTime());
    }
    expect(lstatSync(path.join(root, 'pkg3/big.so')).mode & 0o777).toBe(0o755);
    expect(readlinkSync(path.join(root, 'pkg29/link'))).toBe('sub');
  });

  it('reports the first failure, with its errno code', async () => {
    const root = path.join(work, 'root');
    mkdirSync(root);
    const writer = new TreeWriter(root, { threads: 2 });
    writer.file('a', 0o644, new Date(), Buffer.from('x'));
    writer.file('a', 0o644, new Date(), Buffer.from('y'));
    await expect(writer.finish()).rejects.toMatchObject({ code: 'EEXIST' });
  });
});
