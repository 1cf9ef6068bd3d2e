import { ENVIRONMENT_LAYER, type Layer, layersPrehash } from '../../archive/layers.js';
import { type Provenance, provenanceId } from '../../archive/provenance.js';
import { incompatibility, type Platform } from '../../python/fingerprint.js';
import type { PublicKey } from '../../sign/minisign.js';
import { acceptSignature } from '../../stores/acceptance.js';
import { parseIndex } from '../../stores/layer-index.js';
import type { ArchiveRecord, Store } from '../../stores/store.js';

/** A distribution the new environment holds, as resolved: the wheels (by sha256) it may come from, and whether the user asked for it. */
export interface Wanted {
  dist: string;
  version: string;
  artifacts: readonly string[];
  requested: boolean;
  /** What pip is given to install it by hash (`sha256:HEX`...), when it is not reused. */
  pins: readonly string[];
  /** Installed already with the new environment's pip (pip, setuptools): only its layer's bytecode is taken. */
  seeded?: boolean;
}

/** A stored layer that is the install of a wanted distribution, and the record (one this runner would install) that lists it. */
export interface Found {
  wanted: Wanted;
  store: Store;
  record: ArchiveRecord & { layers: Layer[] };
  layer: Layer & { provenance: Provenance };
}

export interface FindContext {
  platform: Platform;
  tag: string;
  trusted: readonly PublicKey[];
  signal?: AbortSignal | undefined;
}

/** Records read in one lookup, at most (each at most MAX_RECORD_BYTES): a fleet's layers of one environment come from a few keys. */
const MAX_RECORDS_READ = 32;

/** Records tried per index entry: an entry lists the newest first; those that fail (gone, untrusted, another platform) cost a request each. */
const TRIED_PER_ENTRY = 3;

/**
 * Finds a stored layer for each wanted distribution that has one: its index entry read in each store
 * in turn (one request), then the records it names, each read once in a run (and its signature, with
 * trusted keys, checked over the whole layers document, provenance included). Only a record this
 * runner would install itself is used, and in it only a layer whose signed provenance is the wanted
 * one: the index is a hint anyone who can write the store may have written.
 */
export function layerFinder(stores: readonly Store[], context: FindContext): (wanted: readonly Wanted[]) => Promise<Found[]> {
  const records = new Map<string, Promise<(ArchiveRecord & { layers: Layer[] }) | undefined>>();
  const recordOf = (store: Store, index: number, key: string) => {
    const id = `${index} ${key}`;
    // However many records a hostile index names, only so many are read (and held) in one run.
    if (!records.has(id) && records.size >= MAX_RECORDS_READ) return Promise.resolve(undefined);
    if (!records.has(id))
      records.set(
        id,
        usableRecord(store, key, context).catch(() => undefined),
      );
    return records.get(id)!;
  };
  const findOne = async (w: Wanted): Promise<Found | undefined> => {
    for (const [index, store] of stores.entries()) {
      if (!store.index) continue;
      const text = await store.index.read(provenanceId({ dist: w.dist, version: w.version, tag: context.tag }), context.signal).catch(() => undefined);
      for (const ref of parseIndex(text).slice(0, TRIED_PER_ENTRY)) {
        const record = await recordOf(store, index, ref.key);
        const layer = record?.layers.find((l) => l.sha256 === ref.layer && isWanted(l.provenance, w, context.tag));
        if (record && layer) return { wanted: w, store, record, layer: layer as Found['layer'] };
      }
    }
    return undefined;
  };
  return async (wanted) => {
    const found: Found[] = [];
    for (let i = 0; i < wanted.length; i += 8) {
      context.signal?.throwIfAborted();
      for (const one of await Promise.all(wanted.slice(i, i + 8).map(findOne))) if (one) found.push(one);
    }
    return found;
  };
}

/** Whether a layer's signed provenance is the install of `w` for this interpreter. */
function isWanted(p: Provenance | undefined, w: Wanted, tag: string): boolean {
  return p !== undefined && p.dist === w.dist && p.version === w.version && p.tag === tag && w.artifacts.includes(p.artifact);
}

/** The key's layered record for this platform, when this runner would install it (and, with trusted keys, its signature covers its layers). */
async function usableRecord(store: Store, key: string, context: FindContext): Promise<(ArchiveRecord & { layers: Layer[] }) | undefined> {
  const record = await store.lookup(key, context.platform);
  if (!record?.layers || record.layers[0]?.name !== ENVIRONMENT_LAYER || record.portable) return undefined;
  if (!record.platform || incompatibility(record.platform, context.platform)) return undefined;
  if (context.trusted.length) {
    const signature = acceptSignature(await store.signature(record), record, context.trusted);
    signature?.confirm(layersPrehash(record.layers));
  }
  return { ...record, layers: record.layers };
}
