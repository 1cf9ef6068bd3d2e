import { createHash, type Hash } from 'node:crypto';
import path from 'node:path';
import type { Readable, Transform } from 'node:stream';
import { TerrariumError } from '../errors.js';
import { failpoint } from '../io/failpoint.js';
import { type LinkMethod, pathUnder } from '../io/file-ops.js';
import { MAX_RELOCATED_BYTES, type Relocator } from '../relocate/relocator.js';
import type { Codec } from './codec-names.js';
import type { Entry } from './entry.js';
import { EntryGuard, type EntryHeader } from './entry-check.js';
import { checkAsArchived, readLinked, readRelocated, TreeFolders } from './linked-files.js';
import type { Manifest } from './manifest.js';
import { bomb, type LinkedPart, type Part, readPart, Tally, type UnpackLimits } from './parts.js';
import { asArchiveError, readArchive, readTar } from './read.js';
import type { TarSink } from './tar-parse.js';
import { TreeDigest } from './tree-digest.js';
import { TreeWriter } from './tree-writer.js';
import type { TreeProgress } from './writer-protocol.js';
import { unpackedOf } from './writer-thread.js';
import { ZstdDecoder } from './zstd-decompress.js';

export interface ExtractResult {
  manifest: Manifest;
  /** The manifest's text as archived (what a tree digest covers). */
  manifestText: string;
  files: number;
  bytes: number;
  /** Tar entries after the manifest (what a record's `entries` counts). */
  entryCount: number;
  /** For each part with `keep`: every entry written there, in order (what it takes to link it elsewhere later). */
  unpacked: Array<Entry[] | undefined>;
  /** With unpacked copies: how root's files were made from them. */
  method: LinkMethod | undefined;
}

/**
 * Unpacks a terrarium archive (`source`: its bytes as stored, `codec`: their compression) into `root`
 * (an empty staging directory), checking every entry first and
 * rewriting the files the manifest lists as they pass. Writes use O_EXCL, so nothing is ever written
 * through a pre-existing path or link; mtimes are unpacked so that bytecode caches stay valid. Entries are
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
  /** How files of unpacked and linked copies are put into root, the first one tried. */
  method?: LinkMethod | undefined;
  progress?: TreeProgress;
  limits?: UnpackLimits;
  /** Parts that are layers of other archives (no manifest at the start of the first), moved as this manifest of theirs says. */
  manifest?: Manifest | undefined;
  /** Told of every entry as it passes the checks, with the index of its part. */
  entered?: ((part: number, entry: Entry) => void) | undefined;
  /** Told of every file unpacked as it goes to the writer, with the sha256 and size of its bytes there (what a RECORD lists). */
  written?: ((path: string, sha256: Buffer, size: number) => void) | undefined;
  /** Files checked and told of (`written`), but not written. */
  discard?: ((part: number, entry: Entry) => boolean) | undefined;
}

/** Entries linked between two turns of the event loop (the progress line moves, the writer's queue stays short). */
const YIELD_EVERY = 1000;

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
  const unpacked = parts.map((part) => ('linked' in part || !part.unpackInto ? undefined : ([] as Entry[])));
  /** The entries of the unpacked copy being written. */
  let entries: Entry[] | undefined;
  const directories = new Set<string>(['.']);
  let relocator: Relocator | undefined;

  /**
   * A directory the archive lists (`entry`), or one implied by an entry under it. A unpacked copy's index
   * lists exactly the archive's entries (not the implied folders): its tree digest is theirs.
   */
  const ensureDirectory = (rel: string, entry?: Entry): void => {
    if (entry) entries?.push(entry);
    if (directories.has(rel)) return;
    ensureDirectory(path.posix.dirname(rel));
    directories.add(rel);
    writer.dir(rel, entry?.mode ?? 0o755);
  };

  /** Checks an entry; makes folders and symlinks; returns it (the files for the caller to write). */
  const place = (header: EntryHeader, step: string): Entry => {
    const entry = guard.check(header);
    failpoint(step);
    options.entered?.(current, entry);
    if (entry.type === 'directory') {
      ensureDirectory(entry.path, entry);
      return entry;
    }
    ensureDirectory(path.posix.dirname(entry.path));
    entries?.push(entry);
    if (entry.type === 'symlink') {
      writer.symlink(entry.path, entry.linkname!);
      return entry;
    }
    counts.files += 1;
    counts.bytes += entry.size;
    return entry;
  };

  /** The file being read: written through as it comes, or gathered whole when it is to be relocated. */
  let file: { entry: Entry; gathered: { content: Buffer; length: number } | undefined; hash: Hash | undefined; kept: boolean } | undefined;
  const sink: TarSink = {
    entry(header) {
      tally.count(header.size);
      const entry = place(header, 'extract-entry');
      if (entry.type !== 'file') return;
      const rewrite = relocator!.needs(entry.path);
      if (rewrite && header.size > MAX_RELOCATED_BYTES)
        throw bomb(`lists ${entry.path} (${header.size} bytes) for rewriting, beyond the ${MAX_RELOCATED_BYTES >> 20} MiB allowed`);
      file = {
        entry,
        gathered: rewrite ? { content: Buffer.allocUnsafe(header.size), length: 0 } : undefined,
        hash: options.written && !rewrite ? createHash('sha256') : undefined,
        kept: !options.discard?.(current, entry),
      };
      if (!rewrite && file.kept) writer.open(entry.path, entry.mode, header.size);
    },
    data(bytes) {
      if (!file) return; // a directory's or symlink's: the parser refuses any with a size
      const { gathered } = file;
      file.hash?.update(bytes);
      if (!gathered) {
        if (file.kept) writer.write(bytes);
      } else {
        // The parser never passes more than the header's size: the buffer was sized for it.
        gathered.content.set(bytes, gathered.length);
        gathered.length += bytes.length;
      }
    },
    end() {
      if (!file) return;
      const { entry, gathered, hash, kept } = file;
      const { path: rel, mode, mtime } = entry;
      file = undefined;
      if (!gathered) {
        if (kept) writer.close(mtime);
        if (hash) options.written?.(rel, hash.digest(), entry.size);
        return;
      }
      const { content } = gathered;
      // An unpacked copy's relocated files are read again by every link-mode install: their digest says they are as archived.
      if (entries) entry.sha256 = createHash('sha256').update(content).digest('hex');
      const rewritten = relocator!.apply(rel, content);
      options.written?.(rel, createHash('sha256').update(rewritten).digest(), rewritten.length);
      if (!kept) return;
      if (entries) writer.file(rel, mode, mtime, content, rewritten);
      else writer.file(rel, mode, mtime, rewritten);
    },
  };

  /**
   * Links a tree's files into root. With `linked.tree` (the digest a trusted signature covers), every
   * file is read and written anew instead, its bytes hashed on the way, and the tree's digest compared
   * at the end: what is installed is what was signed, whatever the cache holds or says, and the
   * environment shares no inode with the cache.
   */
  const link = async ({ linked }: LinkedPart, first: boolean): Promise<void> => {
    const folders = new TreeFolders(linked.dir);
    const digest = linked.tree === undefined ? undefined : new TreeDigest();
    if (digest && first) digest.manifest(Buffer.from(linked.manifestText ?? ''));
    let count = 0;
    for (const item of linked.entries) {
      if (++count % YIELD_EVERY === 0) {
        await writer.ready();
        await new Promise((resolve) => setImmediate(resolve));
      }
      // The index is input from anyone who can write the cache: each entry passes the archive's checks.
      const entry = place({ ...item, name: item.path }, 'link-entry');
      if (entry.type !== 'file') {
        digest?.entry(entry);
        continue;
      }
      folders.check(entry.path);
      const from = pathUnder(linked.dir, entry.path);
      if (relocator!.needs(entry.path)) {
        writer.file(entry.path, entry.mode, entry.mtime, relocator!.apply(entry.path, readRelocated(from, { ...entry, ino: item.ino }, item.sha256)));
        digest?.entry(entry, item.sha256);
      } else if (digest) {
        writer.open(entry.path, entry.mode, entry.size);
        digest.entry(
          entry,
          readLinked(from, entry.size, (piece) => writer.write(piece)),
        );
        writer.close(entry.mtime);
        // Copies fill the writer's batches as fast as files are read: memory stays bounded only by waiting for it.
        await writer.ready();
      } else {
        // Checked here while the writer's thread links the files before it (one thread each, on two cores).
        checkAsArchived(from, { ...entry, ino: item.ino });
        writer.link(entry.path, entry.mtime);
      }
    }
    if (digest && digest.digest() !== linked.tree)
      throw new TerrariumError('ARCHIVE_CORRUPT', `${linked.dir} is not the tree its signed layer describes (files or its index were changed)`);
  };

  let manifest: Manifest | undefined;
  let manifestText = '';
  /** The linked part being read, while it is. */
  let linking: LinkedPart | undefined;
  /** The index of the part being read. */
  let current = 0;
  try {
    const reader = {
      manifest: (read: Manifest, text: string) => {
        manifest = read;
        manifestText = text;
        relocator = onManifest(read);
        return sink;
      },
      drain: () => writer.ready(),
      decoder: codec === 'zstd' ? new ZstdDecoder() : undefined,
    };
    if (options.manifest) reader.manifest(options.manifest, '');
    for (const [index, part] of parts.entries()) {
      current = index;
      entries = unpacked[index];
      if ('linked' in part) {
        writer.unpackIn({ root: part.linked.dir, existing: true });
        // A manifest refused (another Python, links outside) is the tree's, which the cache holds, not the archive's.
        linking = part;
        if (index === 0) {
          if (!part.linked.manifest) throw new TerrariumError('ARCHIVE_CORRUPT', `${part.linked.dir} has no manifest`);
          reader.manifest(part.linked.manifest, part.linked.manifestText ?? '');
        }
        tally.begin({});
        await link(part, index === 0);
        linking = undefined;
        continue;
      }
      writer.unpackIn(part.unpackInto === undefined ? undefined : { root: part.unpackInto, existing: false });
      await readPart(part, tally, async (source) => {
        if (index === 0 && !options.manifest) await readArchive(source, codec, reader, 'rebuild the archive with --no-download');
        else await readTar(source, codec, sink, reader);
      });
    }
    await writer.finish();
  } catch (error) {
    await writer.abort();
    // A linked part's failure is its own, whenever the writer reports it: its tree is dropped.
    const failedIn = unpackedOf(error);
    const culprit = failedIn === undefined ? linking : parts.find((part): part is LinkedPart => 'linked' in part && part.linked.dir === failedIn);
    throw asArchiveError(culprit?.failed ? await culprit.failed(error) : error);
  }
  return { manifest: manifest!, manifestText, files: counts.files, bytes: counts.bytes, entryCount: tally.entries, unpacked, method: writer.method };
}
