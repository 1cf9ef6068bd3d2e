/**
 * Reads tar synchronously: bytes in, entries out through a sink, with no stream, promise or buffer
 * copy per entry. tar-stream's stream per entry took a third of the main thread's time unpacking. Reads POSIX ustar with pax extended headers (what
 * tar-format.ts, tar-stream and GNU tar write). It judges only the format: a bad checksum, a number
 * that is not one, a truncated archive are errors; whether an entry may be written is entry-check's call.
 */
import { BLOCK } from './tar-format.js';

export interface TarHeader {
  name: string;
  type: string;
  mode: number;
  size: number;
  /** Milliseconds since the epoch, as in an Entry. */
  mtime: number;
  linkname: string | undefined;
}

/** Called in archive order: `entry`, then `data` zero or more times (views valid only during the call), then `end`. */
export interface TarSink {
  entry(header: TarHeader): void;
  data(bytes: Uint8Array): void;
  end(): void;
}

const TYPES: Record<string, string> = {
  '0': 'file',
  '\0': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'character-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
  '7': 'contiguous-file',
  g: 'pax-global-header',
  L: 'gnu-long-path',
  K: 'gnu-long-link-path',
};
/** Entries that never carry content: a size on one would make readers disagree on where the next header is. */
const NO_CONTENT = new Set(['directory', 'symlink', 'link']);
/** A pax header is read whole; nothing of ours comes near this. */
const MAX_PAX = 1 << 20;

export class TarParser {
  private readonly header = Buffer.alloc(BLOCK);
  private headerBytes = 0;
  /** Content bytes left in the current entry, then padding bytes to skip. */
  private remaining = 0;
  private padding = 0;
  private inEntry = false;
  private pax: Buffer[] | undefined;
  private paxBytes = 0;
  private overrides: Map<string, string> | undefined;
  private ended = false;

  constructor(private readonly sink: TarSink) {}

  write(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length && !this.ended) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - at);
        const bytes = chunk.subarray(at, at + take);
        if (this.pax) this.pax.push(Buffer.from(bytes));
        else this.sink.data(bytes);
        at += take;
        this.remaining -= take;
        if (this.remaining === 0) this.endContent();
      } else if (this.padding > 0) {
        const skip = Math.min(this.padding, chunk.length - at);
        at += skip;
        this.padding -= skip;
      } else {
        const take = Math.min(BLOCK - this.headerBytes, chunk.length - at);
        this.header.set(chunk.subarray(at, at + take), this.headerBytes);
        this.headerBytes += take;
        at += take;
        if (this.headerBytes === BLOCK) {
          this.headerBytes = 0;
          this.onHeader();
        }
      }
    }
  }

  /** The archive's bytes are all in: anything short of its end-of-archive block is a truncation. */
  finish(): void {
    if (!this.ended) throw new Error('archive is truncated (it ends before its end-of-archive block)');
  }

  private onHeader(): void {
    const block = this.header;
    // A header's checksum field is never empty: only then can this be the all-zero end block.
    if (block[148] === 0 && block.every((byte) => byte === 0)) {
      if (this.overrides) throw new Error('pax header without an entry after it');
      this.ended = true;
      return;
    }
    checkChecksum(block);
    const type =
      TYPES[String.fromCharCode(block[156]!)] ?? (block[156] === 0x78 ? 'pax-header' : `unknown (${JSON.stringify(String.fromCharCode(block[156]!))})`);
    let size = number(block, 124, 12, 'size');
    if (type === 'pax-header') {
      if (size > MAX_PAX) throw new Error(`pax header of ${size} bytes`);
      this.pax = [];
      this.paxBytes = size;
      this.startContent(size);
      return;
    }
    // POSIX ustar ("ustar\0") has a prefix field; old GNU tar ("ustar  ") keeps other things there.
    const ustar = block.toString('latin1', 257, 263) === 'ustar\0';
    const prefix = ustar ? text(block, 345, 155) : '';
    let name = prefix ? `${prefix}/${text(block, 0, 100)}` : text(block, 0, 100);
    let linkname: string | undefined = text(block, 157, 100) || undefined;
    let mtime = number(block, 136, 12, 'mtime') * 1000;
    const overrides = this.overrides;
    this.overrides = undefined;
    if (overrides) {
      name = overrides.get('path') ?? name;
      linkname = overrides.get('linkpath') ?? linkname;
      if (overrides.has('size')) size = decimal(overrides.get('size')!, 'size');
      if (overrides.has('mtime')) mtime = Math.floor(Number(overrides.get('mtime')) * 1000);
      if (!Number.isFinite(mtime)) throw new Error('invalid pax mtime');
    }
    if (NO_CONTENT.has(type) && size !== 0) throw new Error(`${type} entry ${JSON.stringify(name)} has a size (${size})`);
    this.inEntry = true;
    this.sink.entry({ name, type, mode: number(block, 100, 8, 'mode'), size, mtime, linkname });
    this.startContent(size);
  }

  private startContent(size: number): void {
    this.remaining = size;
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (size === 0) this.endContent();
  }

  private endContent(): void {
    if (this.pax) {
      const records = Buffer.concat(this.pax, this.paxBytes);
      this.pax = undefined;
      this.overrides = paxRecords(records);
      return;
    }
    if (this.inEntry) {
      this.inEntry = false;
      this.sink.end();
    }
  }
}

function checkChecksum(block: Buffer): void {
  const stored = number(block, 148, 8, 'checksum');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  if (sum !== stored) throw new Error('invalid tar header (checksum mismatch)');
}

/** A NUL-terminated field, as UTF-8. */
function text(block: Buffer, offset: number, width: number): string {
  const end = block.indexOf(0, offset);
  return block.toString('utf8', offset, end === -1 || end > offset + width ? offset + width : end);
}

/** Octal, space- or NUL-padded; or base-256 (high bit set), which GNU tar writes for large values. */
function number(block: Buffer, offset: number, width: number, field: string): number {
  const end = offset + width;
  if (block[offset]! & 0x80) {
    if (block[offset] === 0xff) throw new Error(`invalid tar header (negative ${field})`);
    let value = block[offset]! & 0x7f;
    for (let i = offset + 1; i < end; i++) value = value * 256 + block[i]!;
    if (!Number.isSafeInteger(value)) throw new Error(`invalid tar header (${field} too large)`);
    return value;
  }
  let i = offset;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  let value = 0;
  for (; i < end && block[i] !== 0x20 && block[i] !== 0; i++) {
    const digit = block[i]! - 0x30;
    if (digit < 0 || digit > 7) throw new Error(`invalid tar header (${field} is not an octal number)`);
    value = value * 8 + digit;
  }
  return value;
}

function decimal(value: string, field: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new Error(`invalid pax ${field} ${JSON.stringify(value)}`);
  return Number(value);
}

/** "LEN key=value\n" records; LEN counts the whole record. */
function paxRecords(records: Buffer): Map<string, string> {
  const values = new Map<string, string>();
  let at = 0;
  while (at < records.length) {
    if (records[at] === 0) break; // padding some writers leave
    const space = records.indexOf(0x20, at);
    const length = space === -1 ? NaN : Number(records.toString('latin1', at, space));
    if (!Number.isSafeInteger(length) || length <= space - at + 1 || at + length > records.length || records[at + length - 1] !== 0x0a) {
      throw new Error('invalid pax header record');
    }
    const record = records.toString('utf8', space + 1, at + length - 1);
    const equals = record.indexOf('=');
    if (equals <= 0) throw new Error('invalid pax header record');
    values.set(record.slice(0, equals), record.slice(equals + 1));
    at += length;
  }
  return values;
}
