import type { Entry } from './entry.js';
/**
 * Tar headers, POSIX ustar with a pax extended header where a field does not fit (long or non-ASCII
 * paths and link targets, files of 8 GiB and more). Written here rather than through tar-stream's
 * packer, whose stream per entry was most of the time packing took (docs/benchmark.md). tar-parse.ts reads them.
 */

export const BLOCK = 512;

const TYPEFLAG = { file: '0', directory: '5', symlink: '2' } as const;
/** Octal digits in size and mtime before the field overflows (11 digits: 8 GiB). */
const MAX_OCTAL_11 = 0o77777777777;

/** The header blocks of one entry: a pax header first when needed. Its content follows, padded to BLOCK. */
export function encodeHeader(entry: Entry): Buffer {
  const name = entry.type === 'directory' && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
  const pax: Array<[string, string]> = [];
  const split = splitName(name);
  if (!split) pax.push(['path', name]);
  if (entry.linkname !== undefined && !fits(entry.linkname, 100)) pax.push(['linkpath', entry.linkname]);
  if (entry.size > MAX_OCTAL_11) pax.push(['size', String(entry.size)]);
  const header = ustar({
    name: split?.name ?? asciiStub(name, 100),
    prefix: split?.prefix ?? '',
    mode: entry.mode,
    size: entry.type === 'file' && entry.size <= MAX_OCTAL_11 ? entry.size : 0,
    mtime: Math.floor(entry.mtime / 1000),
    typeflag: TYPEFLAG[entry.type],
    linkname: entry.linkname === undefined ? '' : fits(entry.linkname, 100) ? entry.linkname : asciiStub(entry.linkname, 100),
  });
  if (!pax.length) return header;
  const records = Buffer.from(pax.map(([key, value]) => paxRecord(key, value)).join(''), 'utf8');
  const paxHeader = ustar({ name: asciiStub(`PaxHeader/${name}`, 100), prefix: '', mode: 0o644, size: records.length, mtime: 0, typeflag: 'x', linkname: '' });
  return Buffer.concat([paxHeader, records, padding(records.length), header]);
}

/** Zero bytes that bring a content of `size` bytes to a whole number of blocks. */
export function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** Two zero blocks end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

/** "LEN key=value\n", where LEN counts the whole record, its own digits included. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bytes = Buffer.byteLength(body);
  let length = bytes + String(bytes).length;
  if (String(length).length !== String(bytes).length) length = bytes + String(length).length;
  return `${length}${body}`;
}

const fits = (text: string, bytes: number) => /^[\x20-\x7e]*$/.test(text) && text.length <= bytes;

/** ustar keeps paths up to 255 bytes as prefix (155) + "/" + name (100); pure ASCII only, or pax says it. */
function splitName(name: string): { name: string; prefix: string } | undefined {
  if (fits(name, 100)) return { name, prefix: '' };
  if (!fits(name, 256)) return undefined;
  // The last "/" that leaves at most 155 bytes before it and 100 after it (a directory's trailing "/" stays in name).
  for (let cut = name.lastIndexOf('/', name.length - 2); cut > 0; cut = name.lastIndexOf('/', cut - 1)) {
    if (cut <= 155 && name.length - cut - 1 <= 100) return { prefix: name.slice(0, cut), name: name.slice(cut + 1) };
    if (cut < name.length - 101) break;
  }
  return undefined;
}

/** A stand-in for readers that ignore pax: printable, and never mistaken for the real name. */
function asciiStub(text: string, bytes: number): string {
  return text.replace(/[^\x20-\x7e]/g, '_').slice(0, bytes);
}

interface UstarFields {
  name: string;
  prefix: string;
  mode: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
}

function ustar(fields: UstarFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(fields.name, 0, 100, 'utf8');
  octal(block, 100, 8, fields.mode & 0o7777);
  octal(block, 108, 8, 0); // uid: an environment belongs to whoever unpacks it
  octal(block, 116, 8, 0); // gid
  octal(block, 124, 12, fields.size);
  octal(block, 136, 12, fields.mtime);
  block.write('        ', 148, 8, 'ascii'); // checksum field counts as spaces while summing
  block.write(fields.typeflag, 156, 1, 'ascii');
  block.write(fields.linkname, 157, 100, 'utf8');
  block.write('ustar\u000000', 257, 8, 'ascii');
  block.write(fields.prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
  return block;
}

/** NUL-terminated, zero-padded octal, as every tar reads. */
function octal(block: Buffer, offset: number, width: number, value: number): void {
  block.write(`${value.toString(8).padStart(width - 1, '0')}\u0000`, offset, width, 'ascii');
}
