import path from 'node:path';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { TerrariumError, isErrno } from '../errors.js';
import { failpoint } from '../io/failpoint.js';
import { MANIFEST_PATH, parseManifest, type Manifest } from '../relocate/manifest.js';
import type { Relocator } from '../relocate/relocator.js';
import { EntryGuard } from './entry-check.js';
import { TreeWriter, type KeptCopy, type UnpackedEntry, type TreeProgress } from './tree-writer.js';

/** Entries up to this size are gathered in memory and written in one go; larger ones stream through. */
const SMALL_FILE = 1 << 20;

type EntryStream = AsyncIterable<unknown> & { resume(): unknown };

export interface ExtractResult {
  manifest: Manifest;
  files: number;
  bytes: number;
  /** With a kept copy: every entry written there, in order (what it takes to link it elsewhere later). */
  entries: UnpackedEntry[] | undefined;
  /** With a kept copy: how root's files were made from it. */
  method: KeptCopy['method'] | undefined;
}

/**
 * Unpacks a terrarium tar (the last of `source`, a stream and its decoders) into `root` (an empty staging directory), checking every entry first and
 * rewriting the files the manifest lists as they pass. Writes use O_EXCL, so nothing is ever written
 * through a pre-existing path or link; mtimes are kept so that bytecode caches stay valid. With `keep`,
 * the tree is also written, as archived, to a second empty directory, and root's files are linked
 * (cloned, copied) from there, except those relocated.
 */
export async function extractEnvironment(
  source: [Readable, ...Transform[]],
  root: string,
  onManifest: (manifest: Manifest) => Relocator,
  options: { keep?: KeptCopy | undefined; progress?: TreeProgress } = {},
): Promise<ExtractResult> {
  const { keep } = options;
  const counts = options.progress ?? { files: 0, bytes: 0 };
  const extract = tar.extract();
  const guard = new EntryGuard();
  const writer = new TreeWriter(root, keep);
  const entries: UnpackedEntry[] | undefined = keep ? [] : undefined;
  const directories = new Set<string>(['.']);
  let manifest: Manifest | undefined;
  let relocator: Relocator | undefined;

  const ensureDirectory = async (rel: string, mode = 0o755): Promise<void> => {
    if (directories.has(rel)) return;
    await ensureDirectory(path.posix.dirname(rel));
    directories.add(rel);
    entries?.push({ path: rel, type: 'directory', mode });
    await writer.dir(rel, mode);
  };

  const onEntry = async (header: tar.Header, stream: EntryStream): Promise<void> => {
    if (!manifest) {
      manifest = await readManifestEntry(header, stream, 'rebuild the archive with --no-download');
      relocator = onManifest(manifest);
      return;
    }
    const entry = guard.check(header);
    failpoint('extract-entry');
    const mtime = header.mtime ?? new Date();
    if (entry.type === 'directory') {
      stream.resume();
      await ensureDirectory(entry.path, entry.mode);
      return;
    }
    await ensureDirectory(path.posix.dirname(entry.path));
    if (entry.type === 'symlink') {
      stream.resume();
      entries?.push({ path: entry.path, type: 'symlink', linkname: entry.linkname! });
      await writer.symlink(entry.path, entry.linkname!);
      return;
    }
    counts.files += 1;
    counts.bytes += header.size ?? 0;
    entries?.push({ path: entry.path, type: 'file', mode: entry.mode, mtime: mtime.getTime(), size: header.size ?? 0 });
    const rewrite = relocator!.needs(entry.path);
    if (rewrite) {
      const content = await collect(stream);
      const rewritten = relocator!.apply(entry.path, content);
      await (keep ? writer.file(entry.path, entry.mode, mtime, content, rewritten) : writer.file(entry.path, entry.mode, mtime, rewritten));
      return;
    }
    if ((header.size ?? 0) <= SMALL_FILE) {
      await writer.file(entry.path, entry.mode, mtime, await pieces(stream));
      return;
    }
    await writer.begin(entry.path, entry.mode);
    for await (const chunk of stream) await writer.chunk(chunk as Buffer);
    await writer.end(mtime);
  };

  // The entry being handled: when the stream fails under it, it may still create a file or folder, so
  // nothing returns (and no caller removes the root) before it has settled.
  let current: Promise<void> = Promise.resolve();
  extract.on('entry', (header, stream, next) => {
    // A failed entry is destroyed with the error that the pipeline reports; without a listener it would also crash the process.
    stream.on('error', () => undefined);
    current = onEntry(header, stream).then(
      () => next(),
      (error: unknown) => {
        stream.resume();
        next(error as Error);
      },
    );
  });

  try {
    await pipeline([...source, extract]);
    await writer.finish();
  } catch (error) {
    await current;
    await writer.abort();
    throw asArchiveError(error);
  }
  if (!manifest) throw new TerrariumError('ARCHIVE_CORRUPT', 'archive is empty', { hint: 'rebuild the archive with --no-download' });
  return { manifest, files: counts.files, bytes: counts.bytes, entries, method: writer.method };
}

async function pieces(stream: AsyncIterable<unknown>): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return chunks;
}

/** A whole entry's content. */
export async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  return Buffer.concat(await pieces(stream));
}

/** The first entry of every terrarium archive, its manifest; anything else there is not one of ours. */
export async function readManifestEntry(header: tar.Header, stream: AsyncIterable<unknown>, hint: string): Promise<Manifest> {
  if (header.name !== MANIFEST_PATH || header.type !== 'file') {
    throw new TerrariumError('ARCHIVE_CORRUPT', 'not a terrarium archive (no manifest at its start)', { hint });
  }
  return parseManifest((await collect(stream)).toString('utf8'));
}

/** Failures of reading an archive as the error users see: corrupt, hostile, or (disk errors) as they are. */
export function asArchiveError(error: unknown): unknown {
  if (error instanceof TerrariumError) return error;
  if (isErrno(error, 'ENOSPC', 'EDQUOT', 'EACCES', 'EROFS', 'EMFILE')) return error;
  if (isErrno(error, 'EEXIST')) {
    return new TerrariumError('ARCHIVE_HOSTILE', `archive holds the same path twice (${(error as NodeJS.ErrnoException).path ?? ''})`, {
      hint: 'the archive was not made by terrarium or was tampered with; delete it and rebuild with --no-download',
      cause: error,
    });
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new TerrariumError('ARCHIVE_CORRUPT', `archive cannot be unpacked: ${reason}`, {
    hint: 'the stored archive is damaged; it will be rebuilt with --no-download',
    cause: error,
  });
}
