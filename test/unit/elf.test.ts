import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ElfError, newestGlibc, originRelative, overwriteString, readDynamic } from '../../src/relocate/elf.js';
import { interpreters } from '../helpers/python.js';

interface Crafted {
  wide: boolean;
  little: boolean;
  needed: string[];
  runpath?: string;
  soname?: string;
  versions?: Record<string, string[]>;
  /** A string table size to claim instead of the true one. */
  strsz?: number;
}

/** A minimal ELF file: one loaded segment over the whole file (at address 0x1000), a dynamic section, a string table and version needs. */
function craft(spec: Crafted): Buffer {
  const { wide, little } = spec;
  const strings: string[] = [''];
  const index = (s: string) => {
    const at = strings.indexOf(s);
    if (at >= 0 && s) return strings.slice(0, at).reduce((n, x) => n + x.length + 1, 0);
    strings.push(s);
    return strings.slice(0, -1).reduce((n, x) => n + x.length + 1, 0);
  };
  const tags: Array<[number, number]> = spec.needed.map((n) => [1, index(n)]);
  if (spec.soname) tags.push([14, index(spec.soname)]);
  if (spec.runpath) tags.push([29, index(spec.runpath)]);
  const versions = Object.entries(spec.versions ?? {});
  const verneed: Array<{ file: number; names: number[] }> = versions.map(([lib, names]) => ({ file: index(lib), names: names.map(index) }));
  const strtab = Buffer.from(`${strings.join('\0')}\0`, 'latin1');
  const address = wide ? 8 : 4;
  const ehsize = wide ? 64 : 52;
  const phentsize = wide ? 56 : 32;
  const phoff = ehsize;
  const strOffset = phoff + 2 * phentsize;
  const verOffset = strOffset + strtab.length + ((4 - (strtab.length % 4)) % 4);
  const verSize = verneed.reduce((n, v) => n + 16 + 16 * v.names.length, 0);
  const dynOffset = verOffset + verSize + 8;
  const allTags: Array<[number, number]> = [...tags, [5, 0x1000 + strOffset], [10, spec.strsz ?? strtab.length]];
  if (verneed.length) allTags.push([0x6ffffffe, 0x1000 + verOffset], [0x6fffffff, verneed.length]);
  allTags.push([0, 0]);
  const total = dynOffset + allTags.length * address * 2;
  const b = Buffer.alloc(total);
  const w = (at: number, v: number, bytes: 2 | 4 | 8) => {
    if (bytes === 2) little ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at);
    else if (bytes === 4) little ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at);
    else little ? b.writeBigUInt64LE(BigInt(v), at) : b.writeBigUInt64BE(BigInt(v), at);
  };
  b.set([0x7f, 0x45, 0x4c, 0x46, wide ? 2 : 1, little ? 1 : 2, 1]);
  w(wide ? 0x20 : 0x1c, phoff, address);
  w(wide ? 0x36 : 0x2a, phentsize, 2);
  w(wide ? 0x38 : 0x2c, 2, 2);
  const ph = (at: number, type: number, offset: number, vaddr: number, size: number) => {
    w(at, type, 4);
    w(at + (wide ? 8 : 4), offset, address);
    w(at + (wide ? 16 : 8), vaddr, address);
    w(at + (wide ? 32 : 16), size, address);
  };
  ph(phoff, 1, 0, 0x1000, total);
  ph(phoff + phentsize, 2, dynOffset, 0x1000 + dynOffset, allTags.length * address * 2);
  strtab.copy(b, strOffset);
  let at = verOffset;
  verneed.forEach((need, i) => {
    w(at, 1, 2);
    w(at + 2, need.names.length, 2);
    w(at + 4, need.file, 4);
    w(at + 8, 16, 4);
    w(at + 12, i === verneed.length - 1 ? 0 : 16 + 16 * need.names.length, 4);
    need.names.forEach((name, j) => {
      const aux = at + 16 + 16 * j;
      w(aux + 8, name, 4);
      w(aux + 12, j === need.names.length - 1 ? 0 : 16, 4);
    });
    at += 16 + 16 * need.names.length;
  });
  allTags.forEach(([tag, value], i) => {
    w(dynOffset + i * address * 2, tag, address);
    w(dynOffset + i * address * 2 + address, value, address);
  });
  return b;
}

describe('readDynamic', () => {
  it.each([
    ['64-bit little-endian', true, true],
    ['64-bit big-endian', true, false],
    ['32-bit little-endian', false, true],
    ['32-bit big-endian', false, false],
  ])('reads %s', (_, wide, little) => {
    const file = craft({
      wide,
      little,
      needed: ['libssl.so.3', 'libc.so.6'],
      soname: 'libx.so.1',
      runpath: '/opt/py/lib:/usr/lib',
      versions: { 'libc.so.6': ['GLIBC_2.2.5', 'GLIBC_2.34', 'GLIBC_2.4'], 'libssl.so.3': ['OPENSSL_3.0.0'] },
    });
    const info = readDynamic(file)!;
    expect(info.needed).toEqual(['libssl.so.3', 'libc.so.6']);
    expect(info.soname).toBe('libx.so.1');
    expect(info.runpath?.value).toBe('/opt/py/lib:/usr/lib');
    expect(info.rpath).toBeUndefined();
    expect(newestGlibc(info.versions)).toBe('2.34');
    expect(overwriteString(file, info.runpath!, '$ORIGIN/../lib')).toBe(true);
    expect(readDynamic(file)!.runpath?.value).toBe('$ORIGIN/../lib');
    expect(overwriteString(file, info.runpath!, 'x'.repeat(info.runpath!.length + 1))).toBe(false);
  });

  it.each([
    ['not ELF', Buffer.alloc(64)],
    ['truncated program headers', craft({ wide: true, little: true, needed: ['a'] }).subarray(0, 80)],
    ['a string table past the end', craft({ wide: true, little: true, needed: ['a'], strsz: 1 << 20 })],
    ['a string outside the string table', craft({ wide: true, little: true, needed: ['a', 'b'], strsz: 3 })],
  ])('refuses %s', (_, bytes) => {
    const read = () => readDynamic(Buffer.concat([bytes, Buffer.alloc(Math.max(0, 52 - bytes.length))]));
    expect(read).toThrow(ElfError);
  });

  it("agrees with readelf on this machine's interpreters", () => {
    const pyenv = interpreters().find((i) => i.python.includes('/.pyenv/'));
    if (!pyenv) return;
    const real = execFileSync('readlink', ['-f', pyenv.python], { encoding: 'utf8' }).trim();
    const library = real.replace(/\/bin\/[^/]+$/, `/lib/libpython${pyenv.version.split('.').slice(0, 2).join('.')}.so.1.0`);
    for (const file of [real, library].filter(existsSync)) {
      const info = readDynamic(readFileSync(file))!;
      const readelf = execFileSync('readelf', ['-dW', file], { encoding: 'utf8' });
      const listed = [...readelf.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
      expect(info.needed).toEqual(listed);
      const runpath = /\(RUNPATH\)\s+Library runpath: \[([^\]]*)\]/.exec(readelf)?.[1];
      expect(info.runpath?.value).toBe(runpath);
      expect(newestGlibc(info.versions)).toMatch(/^2\.\d+$/);
    }
  });
});

describe('originRelative', () => {
  it.each([
    ['/p/lib', '/p', '/p/bin', '$ORIGIN/../lib'],
    ['/p/lib', '/p', '/p/lib/python3.12/lib-dynload', '$ORIGIN/../..'],
    ['/p/lib', '/p', '/p/lib', '$ORIGIN'],
    ['/p/lib/:/usr/lib', '/p', '/p/bin', '$ORIGIN/../lib:/usr/lib'],
    ['/usr/lib', '/p', '/p/bin', undefined],
    ['/pp/lib', '/p', '/p/bin', undefined],
    ['$ORIGIN/../lib', '/p', '/p/bin', undefined],
  ])('%s from %s at %s', (search, prefix, dir, expected) => {
    expect(originRelative(search, prefix, dir)).toBe(expected);
  });
});
