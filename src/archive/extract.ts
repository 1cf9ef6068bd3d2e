import path from 'node:path';
import type { Readable, Transform } from 'node:stream';
import { failpoint } from '../io/failpoint.js';
import type { Manifest } from '../relocate/manifest.js';
import type { Relocator } from '../relocate/relocator.js';
import type { Codec } from './codec-names.js';
import { EntryGuard } from './entry-check.js';
import { asArchiveError, readArchive } from './read.js';
import type { TarSink } from './tar-parse.js';
import { TreeWriter, type KeptCopy, type UnpackedEntry, type TreeProgress } from './tree-writer.js';

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
 * Unpacks a terrarium archive (`source`: its bytes as stored, `codec`: their compression) into `root`
 * (an empty staging directory), checking every entry first and
 * rewriting the files the manifest lists as they pass. Writes use O_EXCL, so nothing is ever written
 * through a pre-existing path or link; mtimes are kept so that bytecode caches stay valid. With `keep`,
 * the tree is also written, as archived, to a second empty directory, and root's files are linked
 * (cloned, copied) from there, except those relocated. Entries are parsed and handed to the writer
 * synchronously as input arrives; the writer's thread does the file system calls meanwhile.
 */
export async function extractEnvironment(
  source: [Readable, ...Transform[]],
  codec: Codec,
  root: string,
  onManifest: (manifest: Manifest) => Relocator,
  options: { keep?: KeptCopy | undefined; progress?: TreeProgress } = {},
): Promise<ExtractResult> {
  const { keep } = options;
  const counts = options.progress ?? { files: 0, bytes: 0 };
  const guard = new EntryGuard();
  const writer = new TreeWriter(root, keep);
  const entries: UnpackedEntry[] | undefined = keep ? [] : undefined;
  const directories = new Set<string>(['.']);
  let relocator: Relocator | undefined;

  const ensureDirectory = (rel: string, mode = 0o755): void => {
    if (directories.has(rel)) return;
    ensureDirectory(path.posix.dirname(rel));
    directories.add(rel);
    entries?.push({ path: rel, type: 'directory', mode });
    writer.dir(rel, mode);
  };

  /** The file being read: written through as it comes, or gathered whole when it is to be relocated. */
  let file: { path: string; mode: number; mtime: Date; gathered: Buffer[] | undefined } | undefined;
  const sink: TarSink = {
    entry(header) {
      const entry = guard.check(header);
      failpoint('extract-entry');
      if (entry.type === 'directory') {
        ensureDirectory(entry.path, entry.mode);
        return;
      }
      ensureDirectory(path.posix.dirname(entry.path));
      if (entry.type === 'symlink') {
        entries?.push({ path: entry.path, type: 'symlink', linkname: entry.linkname! });
        writer.symlink(entry.path, entry.linkname!);
        return;
      }
      counts.files += 1;
      counts.bytes += header.size;
      entries?.push({ path: entry.path, type: 'file', mode: entry.mode, mtime: header.mtime.getTime(), size: header.size });
      const rewrite = relocator!.needs(entry.path);
      file = { path: entry.path, mode: entry.mode, mtime: header.mtime, gathered: rewrite ? [] : undefined };
      if (!rewrite) writer.open(entry.path, entry.mode, header.size);
    },
    data(bytes) {
      if (!file) return; // a directory's or symlink's: the parser refuses any with a size
      if (file.gathered) file.gathered.push(Buffer.from(bytes));
      else writer.write(bytes);
    },
    end() {
      if (!file) return;
      const { path: rel, mode, mtime, gathered } = file;
      file = undefined;
      if (!gathered) {
        writer.close(mtime);
        return;
      }
      const content = Buffer.concat(gathered);
      const rewritten = relocator!.apply(rel, content);
      if (keep) writer.file(rel, mode, mtime, content, rewritten);
      else writer.file(rel, mode, mtime, rewritten);
    },
  };

  let manifest: Manifest;
  try {
    const reader = {
      manifest: (read: Manifest) => {
        relocator = onManifest(read);
        return sink;
      },
      drain: () => writer.ready(),
    };
    manifest = await readArchive(source, codec, reader, 'rebuild the archive with --no-download');
    await writer.finish();
  } catch (error) {
    await writer.abort();
    throw asArchiveError(error);
  }
  return { manifest, files: counts.files, bytes: counts.bytes, entries, method: writer.method };
}
