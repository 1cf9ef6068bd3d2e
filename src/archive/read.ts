import { type Readable, type Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isErrno, TerrariumError } from '../errors.js';
import type { Codec } from './codec-names.js';
import { decompressor } from './codecs.js';
import { MANIFEST_PATH, MAX_MANIFEST_BYTES, type Manifest, parseManifest } from './manifest.js';
import { type TarHeader, TarParser, type TarSink } from './tar-parse.js';
import { ZstdDecoder } from './zstd-decompress.js';

export interface ArchiveReader {
  /** Called with the archive's manifest (its first entry) and its text; returns where the other entries go. */
  manifest(manifest: Manifest, text: string): TarSink;
  /** Awaited after each piece of input: the reader's backpressure (a writer with batches in flight). */
  drain?(): Promise<void>;
  /** The zstd decoder to use, when one reads several tars (a layered archive's): one window, allocated once. */
  decoder?: ZstdDecoder;
}

/**
 * Reads a terrarium archive (`source`: its bytes as stored, through any checks; `codec`: their
 * compression): checks that it starts with
 * a manifest, hands the manifest to `reader`, then every other entry to the sink it returns, all
 * synchronously as each piece of input arrives. Failures come out as the errors users see.
 */
export async function readArchive(source: [Readable, ...Transform[]], codec: Codec, reader: ArchiveReader, hint: string): Promise<Manifest> {
  let manifest: Manifest | undefined;
  let entries: TarSink | undefined;
  let manifestBytes: Buffer[] | undefined;
  const first: TarSink = {
    entry(header: TarHeader) {
      if (header.name !== MANIFEST_PATH || header.type !== 'file') {
        throw new TerrariumError('ARCHIVE_CORRUPT', 'not a terrarium archive (no manifest at its start)', { hint });
      }
      // Read whole into memory: a few KiB in any archive terrarium makes.
      if (header.size > MAX_MANIFEST_BYTES) throw new TerrariumError('ARCHIVE_CORRUPT', `archive manifest of ${header.size} bytes`, { hint });
      manifestBytes = [];
    },
    data(bytes) {
      manifestBytes!.push(Buffer.from(bytes));
    },
    end() {
      const text = Buffer.concat(manifestBytes!).toString('utf8');
      manifest = parseManifest(text);
      entries = reader.manifest(manifest, text);
    },
  };
  const sink: TarSink = {
    entry: (header) => (entries ?? first).entry(header),
    data: (bytes) => (entries ?? first).data(bytes),
    end: () => (entries ?? first).end(),
  };
  await readTar(source, codec, sink, reader);
  if (!manifest) throw new TerrariumError('ARCHIVE_CORRUPT', 'archive is empty', { hint });
  return manifest;
}

/**
 * Reads one tar (`source`: its bytes as stored, through any checks; `codec`: their compression) into
 * `sink`, synchronously as each piece of input arrives, awaiting `drain` after each piece. A layered
 * archive's layers after the first are read this way, each into the same sink with the same decoder
 * (a decoder's window is 16 MiB: one per layer, freed only when collected, made restores of 50
 * layers peak at 320 MB).
 */
export async function readTar(
  source: [Readable, ...Transform[]],
  codec: Codec,
  sink: TarSink,
  { drain, decoder: given }: Pick<ArchiveReader, 'drain' | 'decoder'> = {},
): Promise<void> {
  // zstd (every archive terrarium makes) is decompressed here, piece by piece into one reused buffer,
  // each piece parsed before the next; the other codecs come through a stream.
  const decoder = codec === 'zstd' ? (given ?? new ZstdDecoder()) : undefined;
  const streams: [Readable, ...Transform[]] = codec === 'zstd' ? source : [...source, decompressor(codec)];
  const parser = new TarParser(sink);
  const consume = async (chunk: Buffer): Promise<void> => {
    for (const piece of decoder ? decoder.decode(chunk) : [chunk]) {
      parser.write(piece);
      if (drain) await drain();
    }
  };
  const writable = new Writable({
    write(chunk: Buffer, _encoding, done) {
      consume(chunk).then(() => done(), done);
    },
    final(done) {
      try {
        decoder?.finish();
        parser.finish();
        done();
      } catch (error) {
        done(error as Error);
      }
    },
  });
  await pipeline([...streams, writable]).catch((error: unknown) => {
    throw asArchiveError(error);
  });
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
