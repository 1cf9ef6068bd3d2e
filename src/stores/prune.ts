import { pruneIndex } from './layer-index.js';
import type { ArchiveRecord, WritableStore } from './store.js';

/** Which archives `prune` deletes: created before `cutoff`, or all but the newest `keep`; exactly one. */
export type PruneRule = { cutoff: number; keep?: undefined } | { keep: number; cutoff?: undefined };

export interface PruneOptions {
  /** Layers, leases and failure notes untouched for less than this are spared: a publisher or builder may be using them. */
  graceMs: number;
  dryRun: boolean;
}

/** What pruning one store deleted (or, with dryRun, would). */
export interface Pruned {
  archives: ArchiveRecord[];
  layers: Array<{ sha256: string; size: number }>;
  /** Leases and failure notes of builds long over, by name. */
  notes: string[];
  /** References of the provenance index to records or layers no longer there. */
  references: number;
}

export const newestFirst = (a: ArchiveRecord, b: ArchiveRecord) => b.created.localeCompare(a.created);

/**
 * Deletes the archives the rule names, then (mark and sweep) the layers no archive left names and the
 * leases and failure notes builds left behind, both past the grace period, and the index's references
 * to what is gone.
 */
export async function pruneStore(store: WritableStore, rule: PruneRule, options: PruneOptions): Promise<Pruned> {
  const records = (await store.list()).sort(newestFirst);
  const archives = records.filter((r, index) => (rule.cutoff !== undefined ? Date.parse(r.created) < rule.cutoff : index >= rule.keep));
  if (!options.dryRun) for (const record of archives) await store.discard(record);
  // Mark: the layers of every archive left (read again: a publisher may have added one meanwhile).
  const left = options.dryRun ? records.filter((r) => !archives.includes(r)) : await store.list();
  const referenced = new Set(left.flatMap((r) => r.layers?.map((layer) => layer.sha256) ?? []));
  const layers = await store.sweep(referenced, options.graceMs, options.dryRun);
  const notes = await store.sweepNotes(options.graceMs, options.dryRun);
  // The index names only what is left: a later miss reads no reference to a record or layer that is gone.
  const references = store.index ? await pruneIndex(store.index, left, options.dryRun) : 0;
  return { archives, layers, notes, references };
}
