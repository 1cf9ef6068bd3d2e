import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { TerrariumError } from '../errors.js';
import type { Manifest } from '../relocate/manifest.js';
import { EntryGuard } from './entry-check.js';
import { asArchiveError, collect, readManifestEntry } from './extract.js';

/** What an archive holds, read without unpacking it anywhere. */
export interface ArchiveContents {
  manifest: Manifest;
  files: number;
  /** Bytes of the files once unpacked. */
  bytes: number;
  /** `name==version` of every distribution installed in it (what `pip freeze --all` would print), sorted. */
  packages: string[];
}

const METADATA = /^lib\/[^/]+\/site-packages\/[^/]+\.dist-info\/METADATA$/;

/** Reads a terrarium tar (the last of `source` and its decoders): the manifest, sizes, and each installed distribution's METADATA. */
export async function inspectArchive(source: [Readable, ...Transform[]]): Promise<ArchiveContents> {
  const extract = tar.extract();
  const guard = new EntryGuard();
  let manifest: Manifest | undefined;
  let files = 0;
  let bytes = 0;
  const packages: string[] = [];
  extract.on('entry', (header, stream, next) => {
    // A failed entry is destroyed with the error the pipeline reports; unheard, it would crash the process.
    stream.on('error', () => undefined);
    void (async () => {
      if (!manifest) {
        manifest = await readManifestEntry(header, stream, 'pass an archive made by terrarium');
        return;
      }
      // Every entry passes the same checks as on install: a hostile archive is reported, not described.
      const entry = guard.check(header);
      if (entry.type === 'file') {
        files += 1;
        bytes += header.size ?? 0;
        if (METADATA.test(entry.path)) {
          const release = distribution((await collect(stream)).toString('utf8'));
          if (release) packages.push(release);
          return;
        }
      }
      stream.resume();
      await new Promise<void>((resolve) => stream.on('end', () => resolve()));
    })().then(() => next(), (error: unknown) => next(error as Error));
  });
  await pipeline([...source, extract]).catch((error: unknown) => {
    throw asArchiveError(error);
  });
  if (!manifest) throw new TerrariumError('ARCHIVE_CORRUPT', 'archive is empty', { hint: 'pass an archive made by terrarium' });
  return { manifest, files, bytes, packages: packages.sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase())) };
}

/** `Name==Version` from a METADATA file's headers, or undefined when they are missing. */
export function distribution(metadata: string): string | undefined {
  const headers = metadata.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const field = (name: string) => new RegExp(`^${name}:[ \\t]*(.+?)[ \\t]*$`, 'mi').exec(headers)?.[1];
  const name = field('Name');
  const version = field('Version');
  return name && version ? `${name}==${version}` : undefined;
}
