import { addAbortSignal, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ChecksumStream } from '../archive/checksum.js';
import { inspectArchive } from '../archive/inspect.js';
import { type Layer, layersPrehash } from '../archive/layers.js';
import { type ArchivePart, unpackLimits } from '../archive/parts.js';
import { describeCause, TerrariumError } from '../errors.js';
import { platformOf } from '../python/fingerprint.js';
import { acceptManifest, LinksOutside } from './acceptance.js';
import { type ArchiveRecord, isWritable, type Store, type WritableStore } from './store.js';

/**
 * A stored archive as the parts an archive reader takes: its file, or (format 2) its layers one after
 * another, each held to the sha256 recorded for it once read; `prehash()` is then what a signature of
 * it signs. `onDamaged` is told of a layer that cannot be read whole.
 */
export function storedParts(
  store: Store,
  record: ArchiveRecord,
  options: { signal?: AbortSignal | undefined; onDamaged?: (layer: Layer) => Promise<void> } = {},
): { parts: [ArchivePart, ...ArchivePart[]]; prehash(): Buffer } {
  const { signal, onDamaged } = options;
  const opened = (stream: Readable) => {
    signal?.addEventListener('abort', () => stream.destroy(signal.reason as Error), { once: true });
    return stream;
  };
  if (!record.layers) {
    const checksum = new ChecksumStream({ limit: record.size, prehash: true });
    const verify = () => {
      if (checksum.hex() !== record.sha256) throw corrupt(`archive ${record.key}`);
    };
    return { parts: [{ open: async () => [opened(await store.open(record)), checksum], verify }], prehash: () => checksum.prehash()! };
  }
  const { layers } = record;
  const parts = layers.map((layer) =>
    layerPart(
      layer,
      `layer ${layer.name} of ${record.key}`,
      async () => ({ stream: opened(await store.openBlob(layer)), bounded: true }),
      async () => {
        await onDamaged?.(layer);
        return undefined;
      },
    ),
  ) as [LayerPart, ...LayerPart[]];
  return { parts, prehash: () => layersPrehash(layers) };
}

/** The failures that say a stored archive or layer is bad for anyone, as opposed to unreachable or refused here. */
const DAMAGED = ['ARCHIVE_CORRUPT', 'ARCHIVE_HOSTILE'];

/** A layer's part, and how many of its bytes have been read (for progress). */
export type LayerPart = ArchivePart & { bytes(): number };

/**
 * One layer of a layered archive as a part an archive reader takes: within its own limits, held to its
 * sha256 and size once read, any failure named after it (`what`). `open` gives its bytes and whether
 * they are bounded on the way by its size (a cached layer is read whole, then judged). `damaged` is
 * told of a layer that cannot be read whole, and may give the error to throw in its place.
 */

export function layerPart(
  layer: Layer,
  what: string,
  open: () => Promise<{ stream: Readable; bounded: boolean }>,
  damaged: (error: TerrariumError) => Promise<TerrariumError | undefined>,
): LayerPart {
  let checksum: ChecksumStream | undefined;
  return {
    limits: unpackLimits(layer),
    bytes: () => checksum?.bytes ?? 0,
    open: async () => {
      const { stream, bounded } = await open();
      checksum = new ChecksumStream(bounded ? { limit: layer.size } : {});
      return [stream, checksum];
    },
    verify: () => {
      if (checksum!.hex() !== layer.sha256 || checksum!.bytes !== layer.size) throw corrupt(what);
    },
    failed: async (error) => {
      if (!(error instanceof TerrariumError) || !DAMAGED.includes(error.code)) return error;
      const named = error.message.startsWith(what) ? error : new TerrariumError(error.code, `${what}: ${error.message}`, { hint: error.hint, cause: error });
      return (await damaged(named)) ?? named;
    },
  };
}

function corrupt(what: string): TerrariumError {
  return new TerrariumError('ARCHIVE_CORRUPT', `${what}: its bytes do not match the sha256 recorded for them`, {
    hint: 'the stored copy is damaged; the next install of this key removes and rebuilds it',
  });
}

/**
 * Why the archive a store holds under `record` cannot be installed by anyone (missing, damaged,
 * hostile, or beyond its record's counts), or undefined when it reads through every check of an
 * install: how a rebuild with --no-download decides whether the record in its way is one to replace.
 * Nothing is written but this: a layer that cannot be read whole and does not hash to its name is
 * removed (dropDamagedBlob), as it is damaged for every record naming it, and the replacement's own
 * layer of that name would not be uploaded while it is there. Store failures (unreachable, access
 * denied) are thrown, not judged.
 */
export async function flawOfStored(
  store: Store,
  record: ArchiveRecord,
  signal?: AbortSignal,
  replacement?: { linksOutside: boolean },
): Promise<string | undefined> {
  const onDamaged = isWritable(store) ? (layer: Layer) => dropDamagedBlob(store, layer, signal).then(() => undefined) : undefined;
  try {
    const { manifest } = await inspectArchive(storedParts(store, record, { signal, onDamaged }).parts, record.codec, unpackLimits(record));
    // Would an install on the interpreter it was built for take it? Links outside count against it
    // only where the replacement has none.
    const allowOutsidePaths = !replacement || replacement.linksOutside;
    // Held to itself: the interpreter it was built for (or carries) and the machine it was built on.
    const carried = manifest.portable ? { ...platformOf(manifest.python), present: () => true } : undefined;
    acceptManifest(manifest, record, { key: record.key, python: manifest.python, carried, allowOutsidePaths });
    return undefined;
  } catch (error) {
    signal?.throwIfAborted();
    if (error instanceof LinksOutside) return `${describeCause(error).replace(/^not installed: /, '')}, which this build does not`;
    if (error instanceof TerrariumError && DAMAGED.includes(error.code)) return describeCause(error);
    throw error;
  }
}

/**
 * Removes a layer's blob from `store` when its bytes are proven not to be its name's: read again whole
 * (within the size its record gives) and hashed. A layer can fail for reasons its record causes (the
 * sizes and counts it states, a layer listed twice) or a transfer does (a connection cut); neither is
 * the blob's fault, and other records name it too. Resolves with whether it removed it; never throws.
 */
export async function dropDamagedBlob(store: WritableStore, layer: Layer, signal?: AbortSignal): Promise<boolean> {
  const checksum = new ChecksumStream({ limit: layer.size });
  try {
    const stream = await store.openBlob(layer);
    if (signal) addAbortSignal(signal, stream);
    await pipeline(stream, checksum, async (bytes: AsyncIterable<Buffer>) => {
      for await (const chunk of bytes) void chunk;
    });
    if (checksum.hex() === layer.sha256) return false;
    await store.discardBlob(layer);
    return true;
  } catch {
    // Gone, unreadable, or larger than its record says: not proven damaged.
    return false;
  }
}
