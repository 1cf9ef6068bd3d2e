/**
 * The parts of an ELF file's dynamic section that tie an interpreter to the place it was built at:
 * where it looks for libraries (RUNPATH, RPATH), what it needs (NEEDED, and the glibc symbol
 * versions), what it is called (SONAME). Read from the bytes, and RUNPATH/RPATH rewritten in place,
 * so that no `patchelf` is needed (docs/portable.md).
 */

import { compareVersions } from '../python/fingerprint.js';

const MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const DT = { NULL: 0, NEEDED: 1, STRTAB: 5, STRSZ: 10, SONAME: 14, RPATH: 15, RUNPATH: 29, VERNEED: 0x6ffffffe, VERNEEDNUM: 0x6fffffff } as const;
/** No real file comes near these; a file past them is read no further. */
const MAX_HEADERS = 4096;
const MAX_VERSION_ENTRIES = 4096;

/** A string of the dynamic string table: its value and where its bytes lie in the file. */
export interface ElfString {
  value: string;
  offset: number;
  /** Its bytes up to (not counting) the terminating NUL: what a rewrite may use, padded with NULs. */
  length: number;
}

export interface DynamicInfo {
  needed: string[];
  soname: string | undefined;
  runpath: ElfString | undefined;
  rpath: ElfString | undefined;
  /** The symbol versions it needs, by library: `{ 'libc.so.6': ['GLIBC_2.2.5', 'GLIBC_2.34'] }`. */
  versions: Record<string, string[]>;
}

export const isElf = (content: Buffer): boolean => content.length >= 52 && content.subarray(0, 4).equals(MAGIC);

/** Thrown for bytes that claim to be ELF but whose dynamic section cannot be read. */
export class ElfError extends Error {}

/** Reads an ELF file's words in its own class and byte order, never past its end. */
interface Reader {
  wide: boolean;
  /** Bytes of an address or offset: 8 in a 64-bit file, 4 in a 32-bit one. */
  address: 4 | 8;
  word(at: number, bytes: 2 | 4 | 8): number;
}

function readerOf(content: Buffer): Reader {
  if (!isElf(content)) throw new ElfError('not an ELF file');
  const wide = content[4] === 2;
  const little = content[5] === 1;
  if ((content[4] !== 1 && !wide) || (content[5] !== 1 && content[5] !== 2)) throw new ElfError('unknown ELF class or byte order');
  return {
    wide,
    address: wide ? 8 : 4,
    word: (at, bytes) => {
      if (at < 0 || at + bytes > content.length) throw new ElfError('truncated');
      if (bytes === 2) return little ? content.readUInt16LE(at) : content.readUInt16BE(at);
      if (bytes === 4) return little ? content.readUInt32LE(at) : content.readUInt32BE(at);
      const big = little ? content.readBigUInt64LE(at) : content.readBigUInt64BE(at);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError('offset out of range');
      return Number(big);
    },
  };
}

/** The loaded segments (to map addresses to file offsets) and the dynamic segment, from the program headers. */
function segmentsOf({ wide, address, word }: Reader): {
  loads: Array<{ vaddr: number; offset: number; size: number }>;
  dynamic?: { offset: number; size: number };
} {
  const phoff = word(wide ? 0x20 : 0x1c, address);
  const phentsize = word(wide ? 0x36 : 0x2a, 2);
  const phnum = word(wide ? 0x38 : 0x2c, 2);
  if (phnum > MAX_HEADERS || (phnum && phentsize < (wide ? 56 : 32))) throw new ElfError('bad program headers');
  const segments: ReturnType<typeof segmentsOf> = { loads: [] };
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    const type = word(at, 4);
    const offset = word(at + (wide ? 8 : 4), address);
    const vaddr = word(at + (wide ? 16 : 8), address);
    const size = word(at + (wide ? 32 : 16), address);
    if (type === PT_LOAD) segments.loads.push({ vaddr, offset, size });
    if (type === PT_DYNAMIC) segments.dynamic = { offset, size };
  }
  return segments;
}

/** The dynamic section of an ELF file, or undefined for a file without one (a static program, an object file). */
export function readDynamic(content: Buffer): DynamicInfo | undefined {
  const reader = readerOf(content);
  const { address, word } = reader;
  const { loads, dynamic } = segmentsOf(reader);
  if (!dynamic) return undefined;
  const fileOffset = (vaddr: number): number => {
    const load = loads.find((l) => vaddr >= l.vaddr && vaddr < l.vaddr + l.size);
    if (!load) throw new ElfError('an address outside every loaded segment');
    return load.offset + (vaddr - load.vaddr);
  };
  const tags: Array<[number, number]> = [];
  for (let at = dynamic.offset; at + 2 * address <= dynamic.offset + dynamic.size && tags.length < MAX_HEADERS; at += 2 * address) {
    const tag = word(at, address);
    if (tag === DT.NULL) break;
    tags.push([tag, word(at + address, address)]);
  }
  const value = (tag: number) => tags.find(([t]) => t === tag)?.[1];
  const strtabAddress = value(DT.STRTAB);
  const strsz = value(DT.STRSZ);
  if (strtabAddress === undefined || strsz === undefined) throw new ElfError('no string table');
  const strtab = fileOffset(strtabAddress);
  if (strtab + strsz > content.length) throw new ElfError('string table past the end of the file');
  const string = (index: number): ElfString => {
    if (index >= strsz) throw new ElfError('a string outside the string table');
    const end = content.indexOf(0, strtab + index);
    if (end < 0 || end >= strtab + strsz) throw new ElfError('an unterminated string');
    return { value: content.toString('latin1', strtab + index, end), offset: strtab + index, length: end - strtab - index };
  };
  const optional = (tag: number) => (value(tag) === undefined ? undefined : string(value(tag)!));
  const verneed = value(DT.VERNEED);
  return {
    needed: tags.filter(([t]) => t === DT.NEEDED).map(([, v]) => string(v).value),
    soname: optional(DT.SONAME)?.value,
    runpath: optional(DT.RUNPATH),
    rpath: optional(DT.RPATH),
    versions: verneed === undefined ? {} : versionNeeds(reader, fileOffset(verneed), value(DT.VERNEEDNUM) ?? 0, (i) => string(i).value),
  };
}

/** The version needs (Elf_Verneed, each with its Elf_Vernaux entries: the same layout in 32- and 64-bit files), by library. */
function versionNeeds({ word }: Reader, start: number, count: number, string: (index: number) => string): Record<string, string[]> {
  const versions: Record<string, string[]> = {};
  let at = start;
  for (let i = 0; i < Math.min(count, MAX_VERSION_ENTRIES); i++) {
    const library = string(word(at + 4, 4));
    const names = versions[library] ?? [];
    versions[library] = names;
    let aux = at + word(at + 8, 4);
    for (let j = 0; j < Math.min(word(at + 2, 2), MAX_VERSION_ENTRIES); j++) {
      names.push(string(word(aux + 8, 4)));
      const next = word(aux + 12, 4);
      if (!next) break;
      aux += next;
    }
    const next = word(at + 12, 4);
    if (!next) break;
    at += next;
  }
  return versions;
}

/** The newest `GLIBC_x.y` a file's symbol versions ask for, or undefined when it asks for none. */
export function newestGlibc(versions: Record<string, string[]>): string | undefined {
  let newest: string | undefined;
  for (const name of Object.values(versions).flat()) {
    const version = /^GLIBC_(\d+(?:\.\d+)*)$/.exec(name)?.[1];
    if (version && (!newest || compareVersions(version, newest) > 0)) newest = version;
  }
  return newest;
}

/**
 * Writes `value` over a RUNPATH or RPATH string in place, padded with NULs: a string table cannot grow,
 * so `value` must not be longer than the string it replaces. Returns false when it is.
 */
export function overwriteString(content: Buffer, string: ElfString, value: string): boolean {
  const bytes = Buffer.from(value, 'latin1');
  if (bytes.length > string.length) return false;
  bytes.copy(content, string.offset);
  content.fill(0, string.offset + bytes.length, string.offset + string.length);
  return true;
}

/**
 * A search path that names folders under `prefix` made relative to the file (`$ORIGIN/...`), where the
 * file lies at `fileDir` (a folder under `prefix` too). Entries elsewhere stay as they are; undefined
 * when no entry names `prefix`.
 */
export function originRelative(searchPath: string, prefix: string, fileDir: string): string | undefined {
  let changed = false;
  const entries = searchPath.split(':').map((entry) => {
    const clean = entry.replace(/\/+$/, '');
    if (clean !== prefix && !clean.startsWith(`${prefix}/`)) return entry;
    changed = true;
    const relative = relativePosix(fileDir, clean);
    return relative ? `$ORIGIN/${relative}` : '$ORIGIN';
  });
  return changed ? entries.join(':') : undefined;
}

function relativePosix(from: string, to: string): string {
  const a = from.split('/').filter(Boolean);
  const b = to.split('/').filter(Boolean);
  let common = 0;
  while (common < a.length && common < b.length && a[common] === b[common]) common++;
  return [...a.slice(common).map(() => '..'), ...b.slice(common)].join('/');
}
