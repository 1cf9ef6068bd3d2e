import type { Readable, Transform } from 'node:stream';
import { TerrariumError } from '../errors.js';
import type { Entry } from './entry.js';
import type { Manifest } from './manifest.js';
import { unpackedOf } from './writer-thread.js';

/** How much an archive may unpack to: past either, it is a bomb and extraction stops at once. */
export interface UnpackLimits {
  bytes: number;
  entries: number;
}

/**
 * Bytes of unpacked files per byte of archive beyond which an archive is a bomb. Real
 * environments pack to a tenth of their size or more (docs/benchmark.md); 40x leaves room for unusual ones and stops a
 * small archive of zeros long before it fills a disk. SLACK lets tiny archives unpack.
 */
export const MAX_EXPANSION = 40;
const SLACK_BYTES = 64 << 20;
/** Entries allowed beyond any record's count: the floor, and one per this many archive bytes. */
const ENTRY_FLOOR = 100_000;
const BYTES_PER_ENTRY = 64;

/** What an archive with this record may unpack to: what the record says, and never beyond the ratios above. */
export function unpackLimits(record: { size: number; unpackedSize?: number | undefined; entries?: number | undefined }): UnpackLimits {
  return {
    bytes: Math.min(record.unpackedSize ?? Infinity, record.size * MAX_EXPANSION + SLACK_BYTES),
    entries: Math.min(record.entries ?? Infinity, ENTRY_FLOOR + Math.floor(record.size / BYTES_PER_ENTRY)),
  };
}

/** One tar of an archive: a format 1 archive is one, a layered archive one per layer, the manifest at the start of the first. */
export interface ArchivePart {
  /** Its bytes as stored, through any checks; opened when its turn comes. */
  open(): Promise<[Readable, ...Transform[]]>;
  /** Called once the part has been read whole: throws when its bytes are not the ones recorded. */
  verify?(): void | Promise<void>;
  /** Called when reading the part failed (its bytes, its entries or its check): returns the error to throw. */
  failed?(error: unknown): Promise<unknown>;
  /** What this part may unpack to, besides the whole archive's limits (a layer's record). */
  limits?: UnpackLimits | undefined;
  /**
   * A new, empty folder where this part's files are also written, as archived (root's are linked from
   * there, except those relocated): an unpacked copy for later installs to link from.
   */
  unpackInto?: string | undefined;
}

/** A part unpacked earlier (an unpacked copy in the cache): root gets links of its files. */
export interface LinkedPart {
  linked: {
    dir: string;
    /** Its entries in order, as they were unpacked; input from whoever can write the cache. */
    entries: readonly Entry[];
    /** The archive's manifest, for the part that comes first, and its bytes as archived. */
    manifest?: Manifest | undefined;
    manifestText?: string | undefined;
    /** The digest its signed layer gives its tree: when set, what is linked is checked against it. */
    tree?: string | undefined;
  };
  /** Called when linking it failed: returns the error to throw. */
  failed?(error: unknown): Promise<unknown>;
}

export type Part = ArchivePart | LinkedPart;

/** Entries and bytes counted against the whole archive's limits and those of the part being read. */
export class Tally {
  private readonly whole = { entries: 0, bytes: 0 };
  private part = { entries: 0, bytes: 0 };
  private partLimits: UnpackLimits | undefined;

  constructor(private readonly limits: UnpackLimits = { bytes: Infinity, entries: Infinity }) {}

  begin(part: { limits?: UnpackLimits | undefined }): void {
    this.part = { entries: 0, bytes: 0 };
    this.partLimits = part.limits;
  }

  count(size: number): void {
    countEntry(this.limits, this.whole, size);
    if (this.partLimits) countEntry(this.partLimits, this.part, size);
  }

  get entries(): number {
    return this.whole.entries;
  }
}

/** Reads one part, counted in `tally`; its failure as `failed` makes it. */
export async function readPart(part: ArchivePart, tally: Tally, read: (source: [Readable, ...Transform[]]) => Promise<void>): Promise<void> {
  tally.begin(part);
  try {
    await read(await part.open());
    await part.verify?.();
  } catch (error) {
    // A failure of the writer with a part linked before this one is that part's, not this one's.
    throw part.failed && unpackedOf(error) === undefined ? await part.failed(error) : error;
  }
}

/**
 * Counts one tar entry and its bytes (0 for folders and links) against `limits`, for extraction and
 * for reading an archive without unpacking it alike; past either, the archive is hostile.
 */
function countEntry(limits: UnpackLimits, tally: { entries: number; bytes: number }, size: number): void {
  tally.entries += 1;
  tally.bytes += size;
  if (tally.entries > limits.entries) throw bomb(`holds more than ${limits.entries} entries`);
  if (tally.bytes > limits.bytes) throw bomb(`unpacks to more than ${limits.bytes} bytes`);
}

export function bomb(why: string): TerrariumError {
  return new TerrariumError('ARCHIVE_HOSTILE', `archive ${why}: more than its record says, or beyond what any environment compresses to`, {
    hint: 'the archive was not made by terrarium or was tampered with; it is removed and rebuilt without --require-download',
  });
}
