import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Readable, Transform } from 'node:stream';
import { TerrariumError } from '../errors.js';
import { failpoint } from '../io/failpoint.js';
import type { Manifest } from './manifest.js';
import { MAX_RELOCATED_BYTES, type Relocator } from '../relocate/relocator.js';
import type { Codec } from './codec-names.js';
import { EntryGuard, type EntryHeader } from './entry-check.js';
import { asArchiveError, readArchive, readTar } from './read.js';
import { ZstdDecoder } from './zstd-decompress.js';
import type { TarSink } from './tar-parse.js';
import { TreeWriter } from './tree-writer.js';
import type { Entry } from './entry.js';
import type { TreeProgress } from './writer-protocol.js';
import type { LinkMethod } from '../io/file-ops.js';
import { checkAsArchived, readRelocated } from './linked-files.js';

/** How much an archive may unpack to: past either, it is a bomb and extraction stops at once. */
export interface UnpackLimits {
  bytes: number;
  entries: number;
}

/**
 * Bytes of unpacked files per byte of archive beyond which an archive is a bomb. The benchmark's
 * environment (191 MB of files, text tables and repeated extension modules) packs to 21 MB with zstd
 * -3, 9x; its 1 GB one, with incompressible data, 2.4x. 40x leaves room for unusual ones and stops a
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

export interface ExtractResult {
  manifest: Manifest;
  files: number;
  bytes: number;
  /** Tar entries after the manifest (what a record's `entries` counts). */
  entryCount: number;
  /** For each part with `keep`: every entry written there, in order (what it takes to link it elsewhere later). */
  kept: Array<Entry[] | undefined>;
  /** With kept copies: how root's files were made from them. */
  method: LinkMethod | undefined;
}

/**
 * Unpacks a terrarium archive (`source`: its bytes as stored, `codec`: their compression) into `root`
 * (an empty staging directory), checking every entry first and
 * rewriting the files the manifest lists as they pass. Writes use O_EXCL, so nothing is ever written
 * through a pre-existing path or link; mtimes are kept so that bytecode caches stay valid. Entries are
 * parsed and handed to the writer synchronously as input arrives; the writer's thread does the file
 * system calls meanwhile.
 */
export function extractEnvironment(
  source: [Readable, ...Transform[]],
  codec: Codec,
  root: string,
  onManifest: (manifest: Manifest) => Relocator,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  return extractLayers([{ open: async () => source }], codec, root, onManifest, options);
}

export interface ExtractOptions {
  /** How files of kept and linked copies are put into root, the first one tried. */
  method?: LinkMethod | undefined;
  progress?: TreeProgress;
  limits?: UnpackLimits;
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
  keep?: string | undefined;
}

/** A part unpacked earlier (an unpacked copy in the cache): root gets links of its files. */
export interface LinkedPart {
  linked: {
    dir: string;
    /** Its entries in order, as they were unpacked; input from whoever can write the cache. */
    entries: readonly Entry[];
    /** The archive's manifest, for the part that comes first. */
    manifest?: Manifest | undefined;
  };
  /** Called when linking it failed: returns the error to throw. */
  failed?(error: unknown): Promise<unknown>;
}

export type Part = ArchivePart | LinkedPart;

/** Entries linked between two turns of the event loop (the progress line moves, the writer's queue stays short). */
const YIELD_EVERY = 1000;

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
    throw part.failed ? await part.failed(error) : error;
  }
}

/**
 * Unpacks an archive's parts one after the other into `root`, as extractEnvironment does one archive:
 * one entry check, one writer and one set of limits for all of them, so that no part writes where
 * another did or through a link another made. A linked part's entries pass the same checks, its files
 * are linked from its folder, and those relocated are read from there and written anew.
 */
export async function extractLayers(
  parts: readonly [Part, ...Part[]],
  codec: Codec,
  root: string,
  onManifest: (manifest: Manifest) => Relocator,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  const tally = new Tally(options.limits);
  const counts = options.progress ?? { files: 0, bytes: 0 };
  const guard = new EntryGuard();
  const writer = new TreeWriter(root, { method: options.method });
  const kept = parts.map((part) => ('linked' in part || !part.keep ? undefined : ([] as Entry[])));
  /** The entries of the kept copy being written. */
  let entries: Entry[] | undefined;
  const directories = new Set<string>(['.']);
  let relocator: Relocator | undefined;

  /** A directory the archive lists (`entry`), or one implied by an entry under it. */
  const ensureDirectory = (rel: string, entry: Entry = { path: rel, type: 'directory', mode: 0o755, mtime: 0, size: 0 }): void => {
    if (directories.has(rel)) return;
    ensureDirectory(path.posix.dirname(rel));
    directories.add(rel);
    entries?.push(entry);
    writer.dir(rel, entry.mode);
  };

  /** Checks an entry; makes folders and symlinks; returns the files, for the caller to write. */
  const place = (header: EntryHeader, step: string): Entry | undefined => {
    const entry = guard.check(header);
    failpoint(step);
    if (entry.type === 'directory') {
      ensureDirectory(entry.path, entry);
      return undefined;
    }
    ensureDirectory(path.posix.dirname(entry.path));
    entries?.push(entry);
    if (entry.type === 'symlink') {
      writer.symlink(entry.path, entry.linkname!);
      return undefined;
    }
    counts.files += 1;
    counts.bytes += entry.size;
    return entry;
  };

  /** The file being read: written through as it comes, or gathered whole when it is to be relocated. */
  let file: { entry: Entry; gathered: { content: Buffer; length: number } | undefined } | undefined;
  const sink: TarSink = {
    entry(header) {
      tally.count(header.size);
      const entry = place(header, 'extract-entry');
      if (!entry) return;
      const rewrite = relocator!.needs(entry.path);
      if (rewrite && header.size > MAX_RELOCATED_BYTES)
        throw bomb(`lists ${entry.path} (${header.size} bytes) for rewriting, beyond the ${MAX_RELOCATED_BYTES >> 20} MiB allowed`);
      file = { entry, gathered: rewrite ? { content: Buffer.allocUnsafe(header.size), length: 0 } : undefined };
      if (!rewrite) writer.open(entry.path, entry.mode, header.size);
    },
    data(bytes) {
      if (!file) return; // a directory's or symlink's: the parser refuses any with a size
      const { gathered } = file;
      if (!gathered) writer.write(bytes);
      else {
        // The parser never passes more than the header's size: the buffer was sized for it.
        gathered.content.set(bytes, gathered.length);
        gathered.length += bytes.length;
      }
    },
    end() {
      if (!file) return;
      const { entry, gathered } = file;
      const { path: rel, mode, mtime } = entry;
      file = undefined;
      if (!gathered) {
        writer.close(mtime);
        return;
      }
      const { content } = gathered;
      // An unpacked copy's relocated files are read again by every link-mode install: their digest says they are as archived.
      if (entries) entry.sha256 = createHash('sha256').update(content).digest('hex');
      const rewritten = relocator!.apply(rel, content);
      if (entries) writer.file(rel, mode, mtime, content, rewritten);
      else writer.file(rel, mode, mtime, rewritten);
    },
  };

  const link = async ({ linked }: LinkedPart): Promise<void> => {
    let count = 0;
    for (const item of linked.entries) {
      if (++count % YIELD_EVERY === 0) {
        await writer.ready();
        await new Promise((resolve) => setImmediate(resolve));
      }
      // The index is input from anyone who can write the cache: each entry passes the archive's checks.
      const entry = place({ ...item, name: item.path }, 'link-entry');
      if (!entry) continue;
      const from = path.join(linked.dir, entry.path);
      if (relocator!.needs(entry.path)) writer.file(entry.path, entry.mode, entry.mtime, relocator!.apply(entry.path, readRelocated(from, entry, item.sha256)));
      else {
        checkAsArchived(from, entry);
        writer.link(entry.path, entry.mtime);
      }
    }
  };

  let manifest: Manifest | undefined;
  try {
    const reader = {
      manifest: (read: Manifest) => {
        manifest = read;
        relocator = onManifest(read);
        return sink;
      },
      drain: () => writer.ready(),
      decoder: codec === 'zstd' ? new ZstdDecoder() : undefined,
    };
    for (const [index, part] of parts.entries()) {
      entries = kept[index];
      if ('linked' in part) {
        writer.keepIn({ root: part.linked.dir, existing: true });
        if (index === 0) {
          if (!part.linked.manifest) throw new TerrariumError('ARCHIVE_CORRUPT', `${part.linked.dir} has no manifest`);
          reader.manifest(part.linked.manifest);
        }
        tally.begin({});
        await link(part).catch(async (error: unknown) => {
          throw part.failed ? await part.failed(error) : error;
        });
        continue;
      }
      writer.keepIn(part.keep === undefined ? undefined : { root: part.keep, existing: false });
      await readPart(part, tally, async (source) => {
        if (index === 0) await readArchive(source, codec, reader, 'rebuild the archive with --no-download');
        else await readTar(source, codec, sink, reader);
      });
    }
    await writer.finish();
  } catch (error) {
    await writer.abort();
    throw asArchiveError(error);
  }
  return { manifest: manifest!, files: counts.files, bytes: counts.bytes, entryCount: tally.entries, kept, method: writer.method };
}

/**
 * Counts one tar entry and its bytes (0 for folders and links) against `limits`, for extraction and
 * for reading an archive without unpacking it alike; past either, the archive is hostile.
 */
export function countEntry(limits: UnpackLimits, tally: { entries: number; bytes: number }, size: number): void {
  tally.entries += 1;
  tally.bytes += size;
  if (tally.entries > limits.entries) throw bomb(`holds more than ${limits.entries} entries`);
  if (tally.bytes > limits.bytes) throw bomb(`unpacks to more than ${limits.bytes} bytes`);
}

function bomb(why: string): TerrariumError {
  return new TerrariumError('ARCHIVE_HOSTILE', `archive ${why}: more than its record says, or beyond what any environment compresses to`, {
    hint: 'the archive was not made by terrarium or was tampered with; it is removed and rebuilt without --require-download',
  });
}
