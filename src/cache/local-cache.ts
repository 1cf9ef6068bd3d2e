import { pruneIndex } from '../stores/layer-index.js';
import type { ArchiveRecord, Store } from '../stores/store.js';
import { CacheStore } from './archives.js';
import { type CacheEntry, type EvictionRule, evictionPlan } from './eviction.js';
import { cachePath } from './layout.js';
import { UnpackedTrees } from './unpacked.js';

/** An install's own eviction spares layers this new: another install may be adding them, its record not yet written. */
const EVICTION_GRACE_MS = 60_000;

/**
 * Everything terrarium keeps on this machine under --cache-dir: downloaded archives (filled only from
 * remote stores: a local store gains nothing from a second copy) and unpacked trees for link-mode
 * installs (from any store). One size cap covers both, least recently used first.
 */
export class LocalCache {
  readonly archives: CacheStore;
  readonly trees: UnpackedTrees;
  /** The record behind each archive entry listed, to remove exactly that archive. */
  private readonly records = new WeakMap<CacheEntry, ArchiveRecord>();

  constructor(
    readonly dir: string,
    private readonly maxBytes: number | undefined,
  ) {
    this.archives = new CacheStore(cachePath(dir, 'archives'));
    this.trees = new UnpackedTrees(cachePath(dir, 'unpacked'), cachePath(dir, 'trees'));
  }

  /** Whether archives from `store` are kept here as they stream past: only remote ones, as a local store gains nothing from a second copy. */
  caches(store: Store): boolean {
    return store.remote;
  }

  /** The cached archives, to be looked up before `stores`: only when they include a remote one, for the same reason. */
  archivesFor(stores: readonly Store[]): CacheStore | undefined {
    return stores.some((store) => this.caches(store)) ? this.archives : undefined;
  }

  /**
   * Every archive and unpacked copy kept, with its size and last use. A layer (or unpacked tree) several
   * of them share is counted once, with the one used last: each one's size is then what removing it,
   * the least recently used first, frees.
   */
  async entries(): Promise<CacheEntry[]> {
    const archives = await Promise.all(
      (await this.archives.list()).map(async (record) => {
        const entry = { key: record.key, kind: 'archive' as const, bytes: record.size, used: await this.archives.lastUsed(record.key) };
        this.records.set(entry, record);
        return { entry, parts: record.layers?.map((layer) => ({ sha256: layer.sha256, bytes: layer.size })) };
      }),
    );
    const copies = (await this.trees.list()).map((copy) => ({
      entry: { key: copy.key, kind: 'unpacked copy' as const, bytes: 0, used: copy.used },
      parts: copy.trees,
    }));
    chargeShared(archives);
    chargeShared(copies);
    return [...archives, ...copies].map(({ entry }) => entry);
  }

  /** Removes what `rule` selects (or, with `dryRun`, only says what it would); returns it. */
  async prune(rule: EvictionRule, dryRun = false, graceMs = 0): Promise<CacheEntry[]> {
    const dropped = evictionPlan(await this.entries(), rule);
    if (!dryRun) for (const entry of dropped) await this.drop(entry);
    if (!dryRun && dropped.length) await this.sweep(graceMs);
    return dropped;
  }

  /** Removes every entry of these keys (all keys when none are given); returns what was removed. */
  async clean(keys: readonly string[]): Promise<CacheEntry[]> {
    const dropped = (await this.entries()).filter((entry) => !keys.length || keys.includes(entry.key));
    for (const entry of dropped) await this.drop(entry);
    if (dropped.length) await this.sweep(0);
    return dropped;
  }

  /** After an install added `keep`: drops least recently used entries until the cache fits --cache-max-size. */
  async evict(spare: string): Promise<string[]> {
    if (this.maxBytes === undefined) return [];
    return (await this.prune({ maxBytes: this.maxBytes, spare }, false, EVICTION_GRACE_MS)).map((entry) => `${entry.kind} ${entry.key}`);
  }

  /**
   * Removes the layers and unpacked trees nothing cached names any more (shared ones stay with those
   * that still name them), and the index's references to archives no longer cached.
   */
  private async sweep(graceMs: number): Promise<void> {
    const left = await this.archives.list();
    const referenced = new Set(left.flatMap((record) => record.layers?.map((layer) => layer.sha256) ?? []));
    await this.archives.sweep(referenced, graceMs);
    await this.trees.sweep(graceMs);
    await pruneIndex(this.archives.index, left, false);
  }

  private async drop(entry: CacheEntry): Promise<void> {
    if (entry.kind === 'unpacked copy') await this.trees.discard(entry.key);
    else await this.archives.discard(this.records.get(entry)!);
  }
}

/**
 * Charges each part (a layer, an unpacked tree) to the most recently used entry that has it, once: an
 * entry then weighs what removing it, least recently used first, frees. Entries without parts keep
 * their own size.
 */
function chargeShared(listed: Array<{ entry: CacheEntry; parts: Array<{ sha256: string; bytes: number }> | undefined }>): void {
  const counted = new Set<string>();
  for (const { entry, parts } of [...listed].sort((a, b) => b.entry.used - a.entry.used)) {
    if (!parts) continue;
    entry.bytes = parts.reduce((sum, part) => sum + (counted.has(part.sha256) ? 0 : part.bytes), 0);
    for (const part of parts) counted.add(part.sha256);
  }
}
