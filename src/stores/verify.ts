import { ChecksumStream } from '../archive/checksum.js';
import { type ArchivePart, unpackLimits } from '../archive/extract.js';
import { inspectArchive } from '../archive/inspect.js';
import { type Layer, layersPrehash } from '../archive/layers.js';
import { TerrariumError, describeCause } from '../errors.js';
import { type ArchiveRecord, type Store, isWritable } from './store.js';

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
  const opened = (stream: import('node:stream').Readable) => {
    signal?.addEventListener('abort', () => stream.destroy(signal.reason as Error), { once: true });
    return stream;
  };
  if (!record.layers) {
    const checksum = new ChecksumStream({ limit: record.size, prehash: true });
    const verify = () => {
      if (checksum.hex() !== record.sha256) throw damaged(`archive ${record.key}`);
    };
    return { parts: [{ open: async () => [opened(await store.open(record)), checksum], verify }], prehash: () => checksum.prehash()! };
  }
  const { layers } = record;
  const parts = layers.map((layer): ArchivePart => {
    const checksum = new ChecksumStream({ limit: layer.size });
    const what = `layer ${layer.name} of ${record.key}`;
    return {
      limits: unpackLimits(layer),
      open: async () => [opened(await store.openBlob(layer)), checksum],
      verify: () => {
        if (checksum.hex() !== layer.sha256) throw damaged(what);
      },
      // Whatever failed, the message names the layer.
      failed: async (error) => {
        if (!(error instanceof TerrariumError) || !['ARCHIVE_CORRUPT', 'ARCHIVE_HOSTILE'].includes(error.code)) return error;
        await onDamaged?.(layer);
        return error.message.startsWith(what) ? error : new TerrariumError(error.code, `${what}: ${error.message}`, { hint: error.hint, cause: error });
      },
    };
  }) as [ArchivePart, ...ArchivePart[]];
  return { parts, prehash: () => layersPrehash(layers) };
}

function damaged(what: string): TerrariumError {
  return new TerrariumError('ARCHIVE_CORRUPT', `${what}: its bytes do not match the sha256 recorded for them`, {
    hint: 'the stored copy is damaged; the next install of this key removes and rebuilds it',
  });
}

/**
 * Why the archive a store holds under `record` cannot be installed by anyone (missing, damaged,
 * hostile, or beyond its record's counts), or undefined when it reads through every check of an
 * install: how a rebuild with --no-download decides whether the record in its way is one to replace.
 * Nothing is written but this: a layer that cannot be read whole is removed, as it is damaged for every
 * record naming it, and the replacement's own layer of that name would not be uploaded while it is
 * there. Store failures (unreachable, access denied) are thrown, not judged.
 */
export async function flawOfStored(store: Store, record: ArchiveRecord, signal?: AbortSignal): Promise<string | undefined> {
  const onDamaged = isWritable(store) ? (layer: Layer) => store.discardBlob(layer).catch(() => undefined) : undefined;
  try {
    await inspectArchive(storedParts(store, record, { signal, onDamaged }).parts, record.codec, unpackLimits(record));
    return undefined;
  } catch (error) {
    signal?.throwIfAborted();
    if (error instanceof TerrariumError && ['ARCHIVE_CORRUPT', 'ARCHIVE_HOSTILE'].includes(error.code)) return describeCause(error);
    throw error;
  }
}
