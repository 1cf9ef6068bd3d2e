import { promises as fs } from 'node:fs';
import path from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { ChecksumStream } from '../../archive/checksum.js';
import { type Layer, layersPrehash } from '../../archive/layers.js';
import type { ArchivePart } from '../../archive/parts.js';
import type { LocalArchive } from '../../archive/save.js';
import type { CacheStore } from '../../cache/archives.js';
import { DownloadCopy } from '../../cache/download-copy.js';
import { DamagedInCache } from '../../cache/layout.js';
import { TerrariumError } from '../../errors.js';
import { siblingPath } from '../../io/fs.js';
import type { PendingSignature } from '../../sign/archive-signature.js';
import { type ArchiveRecord, isWritable, type Store } from '../../stores/store.js';
import { dropDamagedBlob, type LayerPart, layerPart } from '../../stores/verify.js';

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
 * into a folder beside the target for the cache), through its own sha256. The signature signs the
 * layers document, which the record's sha256 is held to, so it is confirmed before a byte is read.
 * A layer found damaged is removed from where it came from: it is content-addressed, so it is as
 * damaged for every record that names it. The next few layers are opened while one is read. Layers in
 * `linked` are not read at all (the restore links them from unpacked trees).
 */
export function layeredSource(
  store: Store,
  record: ArchiveRecord & { layers: Layer[] },
  options: SourceOptions & { useCache: boolean; linked: ReadonlySet<string> },
): ArchiveSource {
  options.signature?.confirm(layersPrehash(record.layers));
  const downloads = siblingPath(options.target, 'download');
  const copies = new Map<string, DownloadCopy>();
  const reading = options.useCache && options.cache && options.cache !== store ? options.cache : undefined;
  const opened = new Map<number, Promise<{ stream: Readable; cached: boolean }>>();
  let made: Promise<unknown> | undefined;
  const openLayer = async (layer: Layer, index: number): Promise<{ stream: Readable; cached: boolean }> => {
    const cached = reading && (await reading.openBlob(layer).catch(() => undefined));
    if (cached) return { stream: cached, cached: true };
    const stream = await store.openBlob(layer);
    if (!options.cache || options.cache === store) return { stream, cached: false };
    made ??= fs.mkdir(downloads, { mode: 0o755 });
    await made;
    const copy = new DownloadCopy(stream, path.join(downloads, `${index}`));
    copies.set(layer.sha256, copy);
    return { stream: copy.source, cached: false };
  };
  const prefetch = (index: number) => {
    const ahead = record.layers.map((_, i) => i).filter((i) => i >= index && !options.linked.has(record.layers[i]!.sha256));
    for (const next of ahead.slice(0, PREFETCH)) {
      if (opened.has(next)) continue;
      const pending = openLayer(record.layers[next]!, next);
      // A layer opened ahead may fail or time out before its turn (or never get one): that is said when it is read.
      pending.then(
        ({ stream }) => stream.on('error', () => undefined),
        () => undefined,
      );
      opened.set(next, pending);
    }
    return opened.get(index)!;
  };
  const parts = record.layers.map((layer, index) => {
    let cached = false;
    return layerPart(
      layer,
      `layer ${layer.name} (${layer.sha256.slice(0, 16)})`,
      async () => {
        const source = await prefetch(index);
        cached = source.cached;
        if (options.signal) addAbortSignal(options.signal, source.stream);
        return { stream: source.stream, bounded: !cached };
      },
      // A layer that cannot be read whole is removed from the store once proven damaged; left there, a
      // publisher would find its name taken and not upload a good one. The cache's copy is dropped
      // whatever the cause (it is one download to get back), and its damage is worth a second try.
      async (error) => {
        if (cached) {
          await reading!.discardBlob(layer).catch(() => undefined);
          return new DamagedInCache(error.code, `${error.message}, in the cache (dropped it there)`, { cause: error });
        }
        if (isWritable(store)) await dropDamagedBlob(store, layer, options.signal);
        return undefined;
      },
    );
  }) as [LayerPart, ...LayerPart[]];
  return {
    parts,
    bytes: () => parts.reduce((sum, part) => sum + part.bytes(), 0),
    finish() {},
    async addToCache(cache, archive, tool) {
      for (const copy of copies.values()) if (!(await copy.written())) return false;
      // Layers linked from unpacked trees were not downloaded: the archive is kept only if the cache has them already.
      for (const layer of record.layers) if (!copies.has(layer.sha256) && !(await cache.hasBlob(layer))) return false;
      // Layers read from the cache are there already: the cache's publish copies only those it lacks.
      const layers = record.layers.map((layer, index) => ({ ...layer, path: copies.has(layer.sha256) ? path.join(downloads, `${index}`) : '' }));
      await cache.publish(record.key, { ...archive, path: downloads, layers }, tool);
      return true;
    },
    async dispose() {
      // Layers opened ahead and never read are closed too.
      for (const pending of opened.values())
        pending.then(
          ({ stream }) => stream.destroy(),
          () => undefined,
        );
      for (const copy of copies.values()) await copy.dispose();
      await fs.rm(downloads, { recursive: true, force: true });
    },
  };
}

/** Layers opened ahead of the one being read: enough to keep a connection busy while one is unpacked. */
const PREFETCH = 4;
