import { promises as fs } from 'node:fs';
import path from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import type { Layer } from '../../archive/layers.js';
import type { CacheStore } from '../../cache/archives.js';
import { DownloadCopy } from '../../cache/download-copy.js';
import { DamagedInCache } from '../../cache/layout.js';
import { isWritable, type Store } from '../../stores/store.js';
import { dropDamagedBlob, type LayerPart, layerPart } from '../../stores/verify.js';

/** A layer to read: its blob, the store that has it, and how a failure names it. */
export interface LayerToRead {
  layer: Layer;
  store: Store;
  what: string;
}

export interface LayerReaderOptions {
  /** Read before a layer's store where it has the layer (never when it is that store); undefined: not read. */
  cache: CacheStore | undefined;
  /** The folder beside the target that what stores give is teed into (made when first needed); undefined: nothing is kept. */
  copies: string | undefined;
  /** What the cache gives is teed too (an assembly publishes every layer it reused from its file). */
  copyCached?: boolean;
  /** Layers not read at all (a restore links them from unpacked trees): never opened ahead. */
  skipped?: ReadonlySet<number>;
  signal: AbortSignal | undefined;
}

/** Layers as parts an archive reader takes, read in order with the next few opened ahead. */
export interface LayerReader {
  parts: [LayerPart, ...LayerPart[]];
  /** Bytes read so far, from the stores and the cache (for progress). */
  bytes(): number;
  /** The copy of layer `index`, where one is being made. */
  copy(index: number): DownloadCopy | undefined;
  /** The file a layer's copy is written to (whether or not there is one). */
  copyPath(index: number): string;
  /** Closes the layers opened ahead and never read, and removes the copies. */
  dispose(): Promise<void>;
}

/**
 * Each layer from the cache where it is there already, else from its store (teed into `copies` for
 * the cache), through its own sha256. A layer found damaged is removed from where it came from: it is
 * content-addressed, so it is as damaged for every record that names it (a store's copy once proven
 * damaged, as a publisher finding its name taken would not upload a good one; the cache's whatever the
 * cause, as it is one download to get back, and its damage is worth a second try without the cache).
 */
export function layerReader(layers: readonly LayerToRead[], options: LayerReaderOptions): LayerReader {
  const copies = new Map<number, DownloadCopy>();
  const opened = new Map<number, Promise<{ stream: Readable; cached: boolean }>>();
  const copyPath = (index: number) => path.join(options.copies ?? '', `${index}`);
  let made: Promise<unknown> | undefined;
  const tee = async (stream: Readable, index: number): Promise<Readable> => {
    if (options.copies === undefined) return stream;
    made ??= fs.mkdir(options.copies, { mode: 0o755 });
    await made;
    const copy = new DownloadCopy(stream, copyPath(index));
    copies.set(index, copy);
    return copy.source;
  };
  const cacheOf = (store: Store) => (options.cache && options.cache !== store ? options.cache : undefined);
  const openLayer = async ({ layer, store }: LayerToRead, index: number): Promise<{ stream: Readable; cached: boolean }> => {
    const cached = await cacheOf(store)
      ?.openBlob(layer)
      .catch(() => undefined);
    if (cached) return { stream: options.copyCached ? await tee(cached, index) : cached, cached: true };
    return { stream: await tee(await store.openBlob(layer), index), cached: false };
  };
  const prefetch = (index: number) => {
    for (let next = index, ahead = 0; next < layers.length && ahead < PREFETCH; next++) {
      if (options.skipped?.has(next)) continue;
      ahead++;
      if (opened.has(next)) continue;
      const pending = openLayer(layers[next]!, next);
      // A layer opened ahead may fail or time out before its turn (or never get one): that is said when it is read.
      pending.then(
        ({ stream }) => stream.on('error', () => undefined),
        () => undefined,
      );
      opened.set(next, pending);
    }
    return opened.get(index)!;
  };
  const parts = layers.map((one, index) => {
    let cached = false;
    return layerPart(
      one.layer,
      one.what,
      async () => {
        const source = await prefetch(index);
        cached = source.cached;
        if (options.signal) addAbortSignal(options.signal, source.stream);
        return { stream: source.stream, bounded: !cached };
      },
      async (error) => {
        if (cached) {
          await cacheOf(one.store)!
            .discardBlob(one.layer)
            .catch(() => undefined);
          return new DamagedInCache(error.code, `${error.message}, in the cache (dropped it there)`, { cause: error });
        }
        if (isWritable(one.store)) await dropDamagedBlob(one.store, one.layer, options.signal);
        return undefined;
      },
    );
  }) as [LayerPart, ...LayerPart[]];
  return {
    parts,
    bytes: () => parts.reduce((sum, part) => sum + part.bytes(), 0),
    copy: (index) => copies.get(index),
    copyPath,
    async dispose() {
      for (const pending of opened.values())
        pending.then(
          ({ stream }) => stream.destroy(),
          () => undefined,
        );
      for (const copy of copies.values()) await copy.dispose();
      if (options.copies !== undefined) await fs.rm(options.copies, { recursive: true, force: true });
    },
  };
}

/** Layers opened ahead of the one being read: enough to keep a connection busy while one is unpacked. */
const PREFETCH = 4;
