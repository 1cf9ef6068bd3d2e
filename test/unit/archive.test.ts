import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CODECS } from '../../src/archive/codec-names.js';
import { compressor } from '../../src/archive/codecs.js';
import { packEnvironment } from '../../src/archive/create.js';
import { EntryGuard, normalizeEntryPath } from '../../src/archive/entry-check.js';
import { extractEnvironment } from '../../src/archive/extract.js';
import { MANIFEST_PATH, type Manifest } from '../../src/archive/manifest.js';
import { scanEnvironment } from '../../src/archive/scan.js';
import { TerrariumError } from '../../src/errors.js';
import { makeRelocator } from '../../src/relocate/relocator.js';
import { testFingerprint, testManifest } from '../helpers/manifest.js';

const python = testFingerprint(process.execPath);
const manifest = (prefix: string, extra: Partial<Manifest> = {}): Manifest => ({ ...testManifest(prefix, extra), python });

type Entry = tar.Header extends infer H ? Partial<H> & { name: string; content?: string } : never;

async function tarOf(entries: Entry[], withManifest = true): Promise<Buffer> {
  const pack = tar.pack();
  const all: Entry[] = withManifest ? [{ name: MANIFEST_PATH, content: JSON.stringify(manifest('/old')) }, ...entries] : entries;
  for (const { content, ...header } of all) {
    await new Promise<void>((resolve, reject) => pack.entry({ type: 'file', ...header }, content ?? '', (e) => (e ? reject(e) : resolve())));
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

let work: string;
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), 'terrarium-archive-'));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

async function extractInto(bytes: Buffer): Promise<string> {
  const root = path.join(work, 'root');
  mkdirSync(root);
  await extractEnvironment([Readable.from([bytes])], 'none', root, (m) => makeRelocator(m, '/new', python));
  return root;
}

async function extractError(bytes: Buffer): Promise<TerrariumError> {
  const error = await extractInto(bytes).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TerrariumError);
  return error as TerrariumError;
}

describe('entry paths', () => {
  it.each([
    ['lib/python3.11/site-packages/a.py', 'lib/python3.11/site-packages/a.py'],
    ['.hidden/..dots/x..', '.hidden/..dots/x..'],
    ['./bin/python', 'bin/python'],
    ['lib//a', 'lib/a'],
    ['lib/./a', 'lib/a'],
    ['lib/', 'lib'],
    ['lib/.', 'lib'],
  ])('normalises %j to %j', (name, normal) => {
    expect(normalizeEntryPath(name)).toBe(normal);
  });

  it.each([
    ['', 'empty name'],
    ['.', 'names the root itself'],
    ['./', 'names the root itself'],
    ['/etc/passwd', 'absolute path'],
    ['..', '".." in path'],
    ['a/../../b', '".." in path'],
    ['a/..', '".." in path'],
    ['a\0b', 'NUL byte'],
  ])('refuses %j', (name, why) => {
    expect(() => normalizeEntryPath(name)).toThrow(why);
  });

  it('refuses any entry under a symlink, at any depth, and only those', () => {
    const guard = new EntryGuard();
    guard.check({ name: 'lib64', type: 'symlink', linkname: 'lib' });
    expect(() => guard.check({ name: 'lib64/a/b/c.py', type: 'file' })).toThrow('lies under the symlink lib64');
    expect(() => guard.check({ name: 'lib64', type: 'directory' })).toThrow('replaces a symlink');
    expect(guard.check({ name: 'lib64x/a', type: 'file' }).path).toBe('lib64x/a');
    expect(guard.check({ name: 'lib/lib64', type: 'file' }).path).toBe('lib/lib64');
  });
});

describe('hostile archives', () => {
  it.each<[string, Entry[], string]>([
    ['an absolute path', [{ name: '/tmp/evil', content: 'x' }], 'absolute path'],
    ['a .. component', [{ name: 'lib/../../evil', content: 'x' }], '".." in path'],
    ['a symlink to an absolute path', [{ name: 'bin/l', type: 'symlink', linkname: '/etc' }], 'absolute path'],
    ['a symlink leaving the root', [{ name: 'bin/l', type: 'symlink', linkname: '../../etc' }], 'leaves the environment'],
    [
      'a symlink climbing after a name',
      [
        { name: 'a', type: 'directory' },
        { name: 'l', type: 'symlink', linkname: 'a/../..' },
      ],
      'leaves the environment',
    ],
    [
      'a file written through a symlink',
      [
        { name: 'l', type: 'symlink', linkname: '.' },
        { name: 'l/evil', content: 'x' },
      ],
      'under the symlink',
    ],
    [
      'a file replacing a symlink',
      [
        { name: 'l', type: 'symlink', linkname: 'x' },
        { name: 'l', content: 'x' },
      ],
      'replaces a symlink',
    ],
    [
      'a hardlink',
      [
        { name: 'x', content: 'x' },
        { name: 'h', type: 'link', linkname: 'x' },
      ],
      'unsupported entry type link',
    ],
    ['a device', [{ name: 'dev', type: 'character-device', devmajor: 1, devminor: 3 }], 'unsupported entry type character-device'],
    ['a fifo', [{ name: 'fifo', type: 'fifo' }], 'unsupported entry type fifo'],
    ['a setuid file', [{ name: 'bin/su', mode: 0o4755, content: 'x' }], 'setuid'],
    [
      'a duplicate file',
      [
        { name: 'a', content: 'x' },
        { name: 'a', content: 'y' },
      ],
      'same path twice',
    ],
  ])('rejects %s and writes nothing outside the root', async (_, entries, message) => {
    const error = await extractError(await tarOf(entries));
    expect(error.message).toContain(message);
    expect(readdirSync(work)).toEqual(['root']);
  });

  it('rejects an archive without a manifest', async () => {
    expect((await extractError(await tarOf([{ name: 'a', content: 'x' }], false))).code).toBe('ARCHIVE_CORRUPT');
  });

  it('rejects a truncated archive', async () => {
    const bytes = await tarOf([{ name: 'a', content: 'x'.repeat(5000) }]);
    expect((await extractError(bytes.subarray(0, 2048))).code).toBe('ARCHIVE_CORRUPT');
  });

  it('rejects an entry whose data runs past the size its header claims', async () => {
    const bytes = await tarOf([
      { name: 'a', content: 'x'.repeat(1500) },
      { name: 'b', content: 'y' },
    ]);
    // The second entry's header: its size field now says 1 byte, so the rest of its data is read as a header.
    const header = bytes.indexOf(Buffer.from('a\0'));
    const size = Buffer.from('00000000001\0');
    size.copy(bytes, header + 124);
    bytes.fill(' ', header + 148, header + 156);
    let sum = 0;
    for (let i = header; i < header + 512; i++) sum += bytes[i]!;
    Buffer.from(`${sum.toString(8).padStart(6, '0')}\0 `).copy(bytes, header + 148);
    const error = await extractError(bytes);
    expect(error.code).toBe('ARCHIVE_CORRUPT');
    expect(readdirSync(work)).toEqual(['root']);
  });

  it('rejects a manifest whose paths leave the root', async () => {
    const bad = { ...manifest('/old'), text: ['../../etc/passwd'] };
    const error = await extractError(await tarOf([{ name: MANIFEST_PATH, content: JSON.stringify(bad) }], false));
    expect(error.code).toBe('ARCHIVE_HOSTILE');
  });
});

describe('entry guard', () => {
  it('accepts what venvs hold', () => {
    const guard = new EntryGuard();
    expect(guard.check({ name: 'lib64', type: 'symlink', linkname: 'lib' }).type).toBe('symlink');
    expect(guard.check({ name: 'bin/python3.11', type: 'symlink', linkname: 'python3' }).linkname).toBe('python3');
    expect(guard.check({ name: 'a/b/c', type: 'symlink', linkname: '../../x' }).type).toBe('symlink');
    expect(guard.check({ name: './bin/', type: 'directory', mode: 0o755 }).path).toBe('bin');
  });
});

describe('pack and extract', () => {
  it.each(CODECS)('round-trips an environment with %s, relocating listed files and keeping mtimes', async (codec) => {
    const src = path.join(work, 'src');
    mkdirSync(path.join(src, 'bin'), { recursive: true });
    mkdirSync(path.join(src, 'lib/python3.11/site-packages'), { recursive: true });
    writeFileSync(path.join(src, 'pyvenv.cfg'), `home = /usr/bin\ncommand = /usr/bin/python3 -m venv ${src}\n`);
    writeFileSync(path.join(src, 'bin/tool'), `#!${src}/bin/python\nprint(1)\n`, { mode: 0o755 });
    writeFileSync(path.join(src, 'lib/python3.11/site-packages/big.bin'), Buffer.alloc(3 << 20, 7));
    writeFileSync(path.join(src, 'lib/python3.11/site-packages/ext.so'), Buffer.concat([Buffer.from([0, 1]), Buffer.from(src)]));
    symlinkSync('lib', path.join(src, 'lib64'));
    symlinkSync(process.execPath, path.join(src, 'bin/python'));
    const mtime = new Date('2020-01-02T03:04:05Z');
    for (const f of ['bin/tool', 'lib/python3.11/site-packages/big.bin']) utimesSync(path.join(src, f), mtime, mtime);

    const scan = scanEnvironment(src, process.execPath);
    expect(scan.text.sort()).toEqual(['bin/tool', 'pyvenv.cfg']);
    expect(scan.binary).toEqual(['lib/python3.11/site-packages/ext.so']);
    expect(scan.interpreterLinks).toEqual(['bin/python']);

    const stream = packEnvironment(src, scan.entries, manifest(src, scan), compressor(codec));
    const root = path.join(work, 'out');
    mkdirSync(root);
    const result = await extractEnvironment([stream], codec, root, (m) => makeRelocator(m, '/new/place', python));
    expect(result.manifest.prefix).toBe(src);
    expect(readFileSync(path.join(root, 'bin/tool'), 'utf8')).toBe('#!/new/place/bin/python\nprint(1)\n');
    expect(statSync(path.join(root, 'bin/tool')).mode & 0o111).not.toBe(0);
    expect(statSync(path.join(root, 'bin/tool')).mtime.getTime()).toBe(mtime.getTime());
    expect(statSync(path.join(root, 'lib/python3.11/site-packages/big.bin')).size).toBe(3 << 20);
    expect(readFileSync(path.join(root, 'pyvenv.cfg'), 'utf8')).toContain('command = ');
    expect(readlinkSync(path.join(root, 'lib64'))).toBe('lib');
    expect(lstatSync(path.join(root, 'bin')).isDirectory()).toBe(true);
  });
});
