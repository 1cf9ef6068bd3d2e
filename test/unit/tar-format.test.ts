import { spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { BLOCK, END_OF_ARCHIVE, encodeHeader, padding, paxRecord, type TarEntryHeader } from '../../src/archive/tar-format.js';

type Case = TarEntryHeader & { content?: string };

const when = new Date('2024-05-06T07:08:09Z');
const long = (n: number, stem = 'd') => Array.from({ length: Math.ceil(n / 10) }, (_, i) => `${stem}${String(i).padStart(8, '0')}`).join('/').slice(0, n).replace(/\/$/, 'x');

const CASES: Array<[string, Case]> = [
  ['a short file', { name: 'bin/activate', type: 'file', mode: 0o644, mtime: when, size: 5, content: 'hello' }],
  ['an executable', { name: 'bin/pip', type: 'file', mode: 0o755, mtime: when, size: 3, content: 'pip' }],
  ['an empty file', { name: 'lib/empty.py', type: 'file', mode: 0o644, mtime: when, size: 0, content: '' }],
  ['a block-sized file', { name: 'lib/block', type: 'file', mode: 0o644, mtime: when, size: BLOCK, content: 'x'.repeat(BLOCK) }],
  ['a directory', { name: 'lib/python3.11/site-packages', type: 'directory', mode: 0o755, mtime: when, size: 0 }],
  ['a symlink', { name: 'lib64', type: 'symlink', mode: 0o777, mtime: when, size: 0, linkname: 'lib' }],
  ['a name of exactly 100 bytes', { name: 'n'.repeat(100), type: 'file', mode: 0o644, mtime: when, size: 1, content: '1' }],
  ['a 200-byte path (ustar prefix)', { name: long(200), type: 'file', mode: 0o644, mtime: when, size: 2, content: '22' }],
  ['a 255-byte directory path', { name: long(255), type: 'directory', mode: 0o700, mtime: when, size: 0 }],
  ['a 400-byte path (pax)', { name: long(400), type: 'file', mode: 0o644, mtime: when, size: 3, content: '333' }],
  ['a last component over 100 bytes (pax)', { name: `lib/${'c'.repeat(120)}`, type: 'file', mode: 0o644, mtime: when, size: 1, content: 'c' }],
  ['a non-ASCII name (pax)', { name: 'lib/zoë/ünïcode-名前.py', type: 'file', mode: 0o644, mtime: when, size: 1, content: 'u' }],
  ['a long symlink target (pax)', { name: 'lib/link', type: 'symlink', mode: 0o777, mtime: when, size: 0, linkname: `../${'t'.repeat(150)}` }],
  ['a non-ASCII symlink target (pax)', { name: 'lib/link2', type: 'symlink', mode: 0o777, mtime: when, size: 0, linkname: 'zoë' }],
];

function archiveOf(entries: Case[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const content = Buffer.from(entry.content ?? '');
    parts.push(encodeHeader({ ...entry, size: content.length }), content, padding(content.length));
  }
  return Buffer.concat([...parts, END_OF_ARCHIVE]);
}

async function readBack(archive: Buffer): Promise<Array<{ name: string; type: string; mode: number; mtime: number; linkname: string | null; content: string }>> {
  const extract = tar.extract();
  const seen: Array<{ name: string; type: string; mode: number; mtime: number; linkname: string | null; content: string }> = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        seen.push({ name: header.name, type: header.type ?? '', mode: header.mode ?? 0, mtime: header.mtime!.getTime(), linkname: header.linkname ?? null, content: Buffer.concat(chunks).toString() });
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from([archive]).pipe(extract);
  await done;
  return seen;
}

describe('tar headers', () => {
  it.each(CASES)('%s reads back through tar-stream exactly', async (_, entry) => {
    const [back] = await readBack(archiveOf([entry]));
    expect(back).toEqual({
      name: entry.type === 'directory' ? `${entry.name}/` : entry.name,
      type: entry.type,
      mode: entry.mode,
      mtime: when.getTime(),
      linkname: entry.linkname ?? null,
      content: entry.content ?? '',
    });
  });

  it('a whole archive of every case lists the same in GNU tar', () => {
    const listed = spawnSync('tar', ['-t', '-f', '-'], { input: archiveOf(CASES.map(([, e]) => e)), encoding: 'utf8' });
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout.trim().split('\n')).toEqual(CASES.map(([, e]) => (e.type === 'directory' ? `${e.name}/` : e.name)));
  });

  it.each([
    ['path', 'a', '9 path=a\n'],
    // Where adding the length's own digits adds a digit: 98 bytes + "10x" = 101, not 98 + "99".
    ['path', 'x'.repeat(91), `101 path=${'x'.repeat(91)}\n`],
    ['path', 'x'.repeat(90), `99 path=${'x'.repeat(90)}\n`],
    ['linkpath', 'zoë', '17 linkpath=zoë\n'],
  ])('pax record %s=%s counts its own length', (key, value, expected) => {
    expect(paxRecord(key, value)).toBe(expected);
    expect(Buffer.byteLength(expected)).toBe(Number(expected.split(' ')[0]));
  });
});
