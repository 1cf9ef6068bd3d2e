import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import type { Entry } from '../../src/archive/entry.js';
import { BLOCK, END_OF_ARCHIVE, encodeHeader, padding, paxRecord } from '../../src/archive/tar-format.js';
import { TarParser } from '../../src/archive/tar-parse.js';

type Case = Entry & { content?: string };

const when = new Date('2024-05-06T07:08:09Z');
const long = (n: number, stem = 'd') =>
  Array.from({ length: Math.ceil(n / 10) }, (_, i) => `${stem}${String(i).padStart(8, '0')}`)
    .join('/')
    .slice(0, n)
    .replace(/\/$/, 'x');

const CASES: Array<[string, Case]> = [
  ['a short file', { path: 'bin/activate', type: 'file', mode: 0o644, mtime: when.getTime(), size: 5, content: 'hello' }],
  ['an executable', { path: 'bin/pip', type: 'file', mode: 0o755, mtime: when.getTime(), size: 3, content: 'pip' }],
  ['an empty file', { path: 'lib/empty.py', type: 'file', mode: 0o644, mtime: when.getTime(), size: 0, content: '' }],
  ['a block-sized file', { path: 'lib/block', type: 'file', mode: 0o644, mtime: when.getTime(), size: BLOCK, content: 'x'.repeat(BLOCK) }],
  ['a directory', { path: 'lib/python3.11/site-packages', type: 'directory', mode: 0o755, mtime: when.getTime(), size: 0 }],
  ['a symlink', { path: 'lib64', type: 'symlink', mode: 0o777, mtime: when.getTime(), size: 0, linkname: 'lib' }],
  ['a name of exactly 100 bytes', { path: 'n'.repeat(100), type: 'file', mode: 0o644, mtime: when.getTime(), size: 1, content: '1' }],
  ['a 200-byte path (ustar prefix)', { path: long(200), type: 'file', mode: 0o644, mtime: when.getTime(), size: 2, content: '22' }],
  ['a 255-byte directory path', { path: long(255), type: 'directory', mode: 0o700, mtime: when.getTime(), size: 0 }],
  ['a 400-byte path (pax)', { path: long(400), type: 'file', mode: 0o644, mtime: when.getTime(), size: 3, content: '333' }],
  ['a last component over 100 bytes (pax)', { path: `lib/${'c'.repeat(120)}`, type: 'file', mode: 0o644, mtime: when.getTime(), size: 1, content: 'c' }],
  ['a non-ASCII name (pax)', { path: 'lib/zoë/ünïcode-名前.py', type: 'file', mode: 0o644, mtime: when.getTime(), size: 1, content: 'u' }],
  ['a long symlink target (pax)', { path: 'lib/link', type: 'symlink', mode: 0o777, mtime: when.getTime(), size: 0, linkname: `../${'t'.repeat(150)}` }],
  ['a non-ASCII symlink target (pax)', { path: 'lib/link2', type: 'symlink', mode: 0o777, mtime: when.getTime(), size: 0, linkname: 'zoë' }],
];

function archiveOf(entries: Case[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const content = Buffer.from(entry.content ?? '');
    parts.push(encodeHeader({ ...entry, size: content.length }), content, padding(content.length));
  }
  return Buffer.concat([...parts, END_OF_ARCHIVE]);
}

async function readBack(
  archive: Buffer,
): Promise<Array<{ name: string; type: string; mode: number; mtime: number; linkname: string | null; content: string }>> {
  const extract = tar.extract();
  const seen: Array<{ name: string; type: string; mode: number; mtime: number; linkname: string | null; content: string }> = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        seen.push({
          name: header.name,
          type: header.type ?? '',
          mode: header.mode ?? 0,
          mtime: header.mtime!.getTime(),
          linkname: header.linkname ?? null,
          content: Buffer.concat(chunks).toString(),
        });
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
      name: entry.type === 'directory' ? `${entry.path}/` : entry.path,
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
    expect(listed.stdout.trim().split('\n')).toEqual(CASES.map(([, e]) => (e.type === 'directory' ? `${e.path}/` : e.path)));
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

interface Parsed {
  name: string;
  type: string;
  mode: number;
  size: number;
  mtime: number;
  linkname: string | undefined;
  content: string;
}

/** Everything TarParser reports, fed `chunk` bytes at a time. */
function parse(archive: Uint8Array, chunk = archive.length): Parsed[] {
  const seen: Parsed[] = [];
  let current: Parsed | undefined;
  const parser = new TarParser({
    entry: (header) => {
      current = {
        name: header.name,
        type: header.type,
        mode: header.mode,
        size: header.size,
        mtime: header.mtime,
        linkname: header.linkname,
        content: '',
      };
    },
    data: (bytes) => {
      current!.content += Buffer.from(bytes).toString('latin1');
    },
    end: () => {
      seen.push({ ...current!, content: Buffer.from(current!.content, 'latin1').toString('utf8') });
    },
  });
  for (let at = 0; at < archive.length; at += chunk) parser.write(archive.subarray(at, at + chunk));
  parser.finish();
  return seen;
}

function parseError(archive: Uint8Array): string {
  try {
    parse(archive);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('parsed without an error');
}

/** A valid header block for `name` with `size`, then edited by `change` (the checksum recomputed after). */
function block(name: string, size: number, change: (b: Buffer) => void = () => undefined): Buffer {
  const header = encodeHeader({ path: name, type: 'file', mode: 0o644, mtime: when.getTime(), size }).subarray(0, BLOCK);
  change(header);
  header.write('        ', 148, 8, 'ascii');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return header;
}

describe('tar parser', () => {
  const all = CASES.map(([, e]) => e);
  const expected = all.map((e) => ({
    name: e.type === 'directory' ? `${e.path}/` : e.path,
    type: e.type,
    mode: e.mode,
    size: e.type === 'file' ? Buffer.byteLength(e.content ?? '') : 0,
    mtime: when.getTime(),
    linkname: e.linkname,
    content: e.content ?? '',
  }));

  it.each([1, 7, 511, 512, 513, 4096, Infinity])('reads every case the same in chunks of %s bytes', (size) => {
    const archive = archiveOf(all);
    expect(parse(archive, Number.isFinite(size) ? size : archive.length)).toEqual(expected);
  });

  it('reads what GNU tar writes in the POSIX format (long and non-ASCII names, symlinks, empty files)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'terrarium-tar-'));
    try {
      const deep = path.join(dir, 'tree', long(180), 'zoë 名前');
      mkdirSync(deep, { recursive: true });
      writeFileSync(path.join(deep, `${'f'.repeat(120)}.py`), 'print("hi")\n');
      writeFileSync(path.join(dir, 'tree', 'empty'), '');
      symlinkSync('empty', path.join(dir, 'tree', 'link'));
      const archive = spawnSync('tar', ['--format=posix', '-C', dir, '-c', 'tree'], { maxBuffer: 1 << 24 }).stdout;
      const listed = spawnSync('tar', ['-t', '-f', '-'], { input: archive, encoding: 'utf8' }).stdout.trim().split('\n');
      const parsed = parse(archive, 1000);
      expect(parsed.map((e) => e.name)).toEqual(listed);
      expect(parsed.find((e) => e.name.endsWith('.py'))!.content).toBe('print("hi")\n');
      expect(parsed.find((e) => e.name === 'tree/link')).toMatchObject({ type: 'symlink', linkname: 'empty' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads what tar-stream writes (other tools' archives are checked entry by entry)", async () => {
    const pack = tar.pack();
    pack.entry({ name: 'a/b.txt', mode: 0o600, mtime: when }, 'content');
    pack.entry({ name: 'a/dev', type: 'character-device', mode: 0o644, mtime: when });
    pack.entry({ name: 'a/hard', type: 'link', linkname: 'a/b.txt', mtime: when });
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    expect(parse(Buffer.concat(chunks), 100).map(({ name, type, mode, content }) => ({ name, type, mode, content }))).toEqual([
      { name: 'a/b.txt', type: 'file', mode: 0o600, content: 'content' },
      { name: 'a/dev', type: 'character-device', mode: 0o644, content: '' },
      { name: 'a/hard', type: 'link', mode: 0o644, content: '' },
    ]);
  });

  it('takes a base-256 size (GNU tar, 8 GiB and more)', () => {
    const header = block('big', 0, (b) => {
      b.fill(0, 124, 136);
      b[124] = 0x80;
      b.writeUIntBE(3, 130, 6);
    });
    expect(parse(Buffer.concat([header, Buffer.from('abc'), padding(3), END_OF_ARCHIVE]))[0]).toMatchObject({ name: 'big', size: 3, content: 'abc' });
  });

  it.each<[string, () => Buffer, RegExp]>([
    ['a header whose checksum does not add up', () => Buffer.concat([block('a', 0).fill(0x62, 0, 1), END_OF_ARCHIVE]), /checksum mismatch/],
    [
      'a size that is not octal',
      () => Buffer.concat([block('a', 0, (b) => b.write('00000000009\0', 124, 'ascii')), END_OF_ARCHIVE]),
      /size is not an octal number/,
    ],
    ['a negative base-256 size', () => Buffer.concat([block('a', 0, (b) => b.fill(0xff, 124, 136)), END_OF_ARCHIVE]), /negative size/],
    ['content cut short', () => Buffer.concat([block('a', 100), Buffer.alloc(40)]), /truncated/],
    ['no end-of-archive block', () => Buffer.concat([block('a', 0)]), /truncated/],
    [
      'a directory with content',
      () => Buffer.concat([block('d/', 5, (b) => b.write('5', 156, 'ascii')), Buffer.alloc(BLOCK), END_OF_ARCHIVE]),
      /directory entry "d\/" has a size/,
    ],
    [
      'a symlink with content',
      () => Buffer.concat([block('l', 5, (b) => b.write('2', 156, 'ascii')), Buffer.alloc(BLOCK), END_OF_ARCHIVE]),
      /symlink entry "l" has a size/,
    ],
    [
      'a pax record with a wrong length',
      () =>
        Buffer.concat([block('PaxHeader/a', 11, (b) => b.write('x', 156, 'ascii')), Buffer.from('99 path=a\n\n'), padding(11), block('a', 0), END_OF_ARCHIVE]),
      /invalid pax header record/,
    ],
    [
      'a pax header with nothing after it',
      () => Buffer.concat([block('PaxHeader/a', 9, (b) => b.write('x', 156, 'ascii')), Buffer.from('9 path=a\n'), padding(9), END_OF_ARCHIVE]),
      /pax header without an entry/,
    ],
  ])('refuses %s', (_, archive, message) => {
    expect(parseError(archive())).toMatch(message);
  });

  it('applies a pax header to the next entry only', () => {
    const records = Buffer.from(paxRecord('path', 'renamed.txt'));
    const archive = Buffer.concat([
      block('PaxHeader/x', records.length, (b) => b.write('x', 156, 'ascii')),
      records,
      padding(records.length),
      block('short', 0),
      block('next', 0),
      END_OF_ARCHIVE,
    ]);
    expect(parse(archive).map((e) => e.name)).toEqual(['renamed.txt', 'next']);
  });
});
