import type { Codec } from './codec-names.js';
import { EntryGuard } from './entry-check.js';
import type { Manifest } from './manifest.js';
import { type ArchivePart, readPart, Tally, type UnpackLimits } from './parts.js';
import { readArchive, readTar } from './read.js';
import type { TarSink } from './tar-parse.js';
import { ZstdDecoder } from './zstd-decompress.js';

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
/** Name and Version come first in METADATA: its start is all that is read. */
const METADATA_HEAD = 64 << 10;

/**
 * Reads a terrarium archive (its bytes as stored, and their compression): the manifest, sizes, and each
 * installed distribution's METADATA. Every entry passes the checks of an install, within `limits`: a
 * hostile archive is reported, not described (and this is how a stored archive is verified without
 * unpacking it).
 */
export async function inspectArchive(
  parts: readonly [ArchivePart, ...ArchivePart[]],
  codec: Codec,
  limits: UnpackLimits = { bytes: Infinity, entries: Infinity },
): Promise<ArchiveContents> {
  const guard = new EntryGuard();
  let files = 0;
  let bytes = 0;
  const tally = new Tally(limits);
  let gathered = 0;
  const packages: string[] = [];
  let metadata: Buffer[] | undefined;
  const entries: TarSink = {
    entry(header) {
      const entry = guard.check(header);
      tally.count(header.size);
      if (entry.type !== 'file') return;
      files += 1;
      bytes += header.size;
      if (METADATA.test(entry.path)) {
        metadata = [];
        gathered = 0;
      }
    },
    data(chunk) {
      if (!metadata || gathered >= METADATA_HEAD) return;
      metadata.push(Buffer.from(chunk.subarray(0, METADATA_HEAD - gathered)));
      gathered += chunk.length;
    },
    end() {
      if (!metadata) return;
      const release = distribution(Buffer.concat(metadata).toString('utf8'));
      metadata = undefined;
      if (release) packages.push(release);
    },
  };
  const [first, ...rest] = parts;
  let manifest: Manifest | undefined;
  const reader = { manifest: () => entries, decoder: codec === 'zstd' ? new ZstdDecoder() : undefined };
  await readPart(first, tally, async (source) => {
    manifest = await readArchive(source, codec, reader, 'pass an archive made by terrarium');
  });
  for (const part of rest) await readPart(part, tally, (source) => readTar(source, codec, entries, reader));
  return { manifest: manifest!, files, bytes, packages: packages.sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase())) };
}

/** `Name==Version` from a METADATA file's headers, or undefined when they are missing. */
export function distribution(metadata: string): string | undefined {
  const headers = metadata.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const field = (name: string) => new RegExp(`^${name}:[ \\t]*(.+?)[ \\t]*$`, 'mi').exec(headers)?.[1];
  const name = field('Name');
  const version = field('Version');
  return name && version ? `${name}==${version}` : undefined;
}
