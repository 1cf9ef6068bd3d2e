import { addAbortSignal } from 'node:stream';
import { ChecksumStream } from '../../archive/checksum.js';
import { type Layer, layersPrehash } from '../../archive/layers.js';
import type { ArchivePart } from '../../archive/parts.js';
import type { LocalArchive } from '../../archive/save.js';
import type { CacheStore } from '../../cache/archives.js';
import { DownloadCopy } from '../../cache/download-copy.js';
import { TerrariumError } from '../../errors.js';
import { siblingPath } from '../../io/fs.js';
import type { PendingSignature } from '../../sign/archive-signature.js';
import type { ArchiveRecord, Store } from '../../stores/store.js';
import { layerReader } from './layer-reader.js';

/** Where a restore reads an archive's bytes from, and what it does with them once they are verified. */
export interface ArchiveSource {
  parts: [ArchivePart, ...ArchivePart[]];
  /** Bytes read so far, from the store and the cache (for progress). */
  bytes(): number;
  /** After every part: throws unless the bytes are the ones recorded (and signed, with a signature). */
  finish(): void;
  /** Adds what was downloaded to the cache, once verified; false when there was nothing to add. */
  addToCache(cache: CacheStore, archive: Omit<LocalArchive, 'path' | 'layers'>, tool: string): Promise<boolean>;
  dispose(): Promise<void>;
}

export interface SourceOptions {
  /** The local cache's archives, when this store's downloads are worth keeping there. */
  cache: CacheStore | undefined;
  /** Where downloads are written beside the target, for the cache. */
  target: string;
  signature: PendingSignature | undefined;
  signal: AbortSignal | undefined;
}

/** A format 1 archive: one stream, through sha256 (and BLAKE2b-512 for a signature), teed into the cache. */
export function archiveSource(store: Store, record: ArchiveRecord, options: SourceOptions): ArchiveSource {
  const checksum = new ChecksumStream({ limit: record.size, prehash: options.signature !== undefined });
  let copy: DownloadCopy | undefined;
  return {
    parts: [
      {
        open: async () => {
          const stream = await store.open(record);
          if (options.signal) addAbortSignal(options.signal, stream);
          copy = options.cache ? new DownloadCopy(stream, siblingPath(options.target, 'download')) : undefined;
          return [copy?.source ?? stream, checksum];
        },
      },
    ],
    bytes: () => checksum.bytes,
    finish() {
      if (checksum.hex() !== record.sha256) {
        throw new TerrariumError('ARCHIVE_CORRUPT', 'its bytes do not match the sha256 recorded for them', {
          hint: 'the stored copy is damaged; run without --require-download to rebuild and republish it',
        });
      }
      options.signature?.confirm(checksum.prehash()!);
    },
    addToCache: async (cache, archive, tool) => (copy ? copy.addToCache(cache, record.key, archive, tool) : false),
    dispose: async () => copy?.dispose(),
  };
}

/**
 * A layered archive: each layer from the cache where it is there already, else from the store (teed
 * into a folder beside the target for the cache), through its own sha256 (layer-reader.ts). The
 * signature signs the layers document, which the record's sha256 is held to, so it is confirmed before
 * a byte is read. Layers in `linked` are not read at all (the restore links them from unpacked trees).
 */
export function layeredSource(
  store: Store,
  record: ArchiveRecord & { layers: Layer[] },
  options: SourceOptions & { useCache: boolean; linked: ReadonlySet<string> },
): ArchiveSource {
  options.signature?.confirm(layersPrehash(record.layers));
  const downloads = siblingPath(options.target, 'download');
  const reader = layerReader(
    record.layers.map((layer) => ({ layer, store, what: `layer ${layer.name} (${layer.sha256.slice(0, 16)})` })),
    {
      cache: options.useCache && options.cache !== store ? options.cache : undefined,
      copies: options.cache && options.cache !== store ? downloads : undefined,
      skipped: new Set(record.layers.flatMap((layer, index) => (options.linked.has(layer.sha256) ? [index] : []))),
      signal: options.signal,
    },
  );
  return {
    parts: reader.parts,
    bytes: reader.bytes,
    finish() {},
    async addToCache(cache, archive, tool) {
      const copied = record.layers.map((_, index) => reader.copy(index));
      for (const copy of copied) if (copy && !(await copy.written())) return false;
      // Layers linked from unpacked trees (or read from the cache) were not downloaded: the archive is kept only if the cache has them already.
      for (const [index, layer] of record.layers.entries()) if (!copied[index] && !(await cache.hasBlob(layer))) return false;
      // Layers read from the cache are there already: the cache's publish copies only those it lacks.
      const layers = record.layers.map((layer, index) => ({ ...layer, path: copied[index] ? reader.copyPath(index) : '' }));
      await cache.publish(record.key, { ...archive, path: downloads, layers }, tool);
      return true;
    },
    dispose: reader.dispose,
  };
}
