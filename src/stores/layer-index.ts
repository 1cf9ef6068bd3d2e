import type { Layer } from '../archive/layers.js';
import { provenanceId } from '../archive/provenance.js';
import { type ArchiveRecord, isStorageKey, SHA256_HEX, type WritableIndexFiles } from './store.js';

/**
 * The provenance index: for each distribution's version on one interpreter (provenance.ts names it by
 * a digest), the records that hold a layer of it, newest first. A miss reads one entry per distribution
 * instead of every record of a store (docs/layers.md). It is a hint, never trusted: a reader holds the
 * record it names to everything a restore would, and the layer to what was resolved.
 */
export const INDEX_DIR = 'blobs/provenance';
export const indexName = (id: string) => `${INDEX_DIR}/${id}`;

/** An entry names at most this many records: enough to find one this runner trusts, small to read. */
export const MAX_INDEX_REFS = 8;
/** Larger entries are not read (a store may be hostile): 8 references take under 1 KiB. */
export const MAX_INDEX_BYTES = 16 << 10;

const HEADER = 'terrarium-index 1';

/** A record (by key) that lists a layer (by sha256). */
export interface IndexRef {
  key: string;
  layer: string;
}

/** An entry's references, well formed and at most MAX_INDEX_REFS of them; anything else is no reference. */
export function parseIndex(text: string | undefined): IndexRef[] {
  const lines = text?.split('\n') ?? [];
  if (lines[0] !== HEADER) return [];
  const refs: IndexRef[] = [];
  for (const line of lines.slice(1, 1 + MAX_INDEX_REFS)) {
    const [key, layer, extra] = line.split(' ');
    if (key && layer && extra === undefined && isStorageKey(key) && SHA256_HEX.test(layer)) refs.push({ key, layer });
  }
  return refs;
}

export const formatIndex = (refs: readonly IndexRef[]): string => `${HEADER}\n${refs.map((ref) => `${ref.key} ${ref.layer}\n`).join('')}`;

/** The entry with `ref` first (the newest), or undefined when it is first already (nothing to write). */
export function withRef(refs: readonly IndexRef[], ref: IndexRef): IndexRef[] | undefined {
  if (refs[0]?.key === ref.key && refs[0].layer === ref.layer) return undefined;
  return [ref, ...refs.filter((r) => r.key !== ref.key || r.layer !== ref.layer)].slice(0, MAX_INDEX_REFS);
}

/** Adds `ref` to the entry `id` of `files` (read, changed, written: two publishers at once may lose one's reference, which only costs a pip run). */
export async function addToIndex(files: WritableIndexFiles, id: string, ref: IndexRef): Promise<void> {
  const refs = withRef(parseIndex(await files.read(id)), ref);
  if (refs) await files.write(id, formatIndex(refs));
}

/** Names `key`'s record in the entry of each of its layers that has a provenance, a few at a time. */
export async function indexLayers(files: WritableIndexFiles, key: string, layers: readonly Layer[]): Promise<void> {
  const indexed = layers.filter((layer) => layer.provenance);
  for (let i = 0; i < indexed.length; i += 8)
    await Promise.all(indexed.slice(i, i + 8).map((layer) => addToIndex(files, provenanceId(layer.provenance!), { key, layer: layer.sha256 })));
}

/**
 * Prune's part: every entry keeps only the references to a record of `left` that lists that layer, an
 * entry left with none is removed. Returns how many references were dropped (or would be, with `dryRun`).
 */
export async function pruneIndex(files: WritableIndexFiles, left: readonly ArchiveRecord[], dryRun: boolean): Promise<number> {
  const named = new Set(left.flatMap((r) => r.layers?.map((layer) => `${r.key} ${layer.sha256}`) ?? []));
  const live = (ref: IndexRef) => named.has(`${ref.key} ${ref.layer}`);
  let dropped = 0;
  for (const id of await files.ids()) {
    const text = await files.read(id);
    const refs = parseIndex(text);
    const kept = refs.filter(live);
    if (kept.length === refs.length && text === formatIndex(refs)) continue;
    dropped += refs.length - kept.length;
    if (!dryRun) await files.write(id, kept.length ? formatIndex(kept) : undefined);
  }
  return dropped;
}
