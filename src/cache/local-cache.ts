import { cachePath } from './layout.js';
import { CacheStore } from './archives.js';
import { UnpackedTrees } from './unpacked.js';
import type { Store } from '../stores/store.js';

/**
 * Everything terrarium keeps on this machine under --cache-dir: downloaded archives (filled only from
 * remote stores: a local store gains nothing from a second copy) and unpacked trees for link-mode
 * installs (from any store). One size cap covers both, least recently used first.
 */
export class LocalCache {
  readonly archives: CacheStore;
  readonly trees: UnpackedTrees;

  constructor(
    readonly dir: string,
    private readonly maxBytes: number | undefined,
  ) {
    this.archives = new CacheStore(cachePath(dir, 'archives'));
    this.trees = new UnpackedTrees(cachePath(dir, 'unpacked'));
  }

  /** Whether archives from `store` are kept here as they stream past: only remote ones, as a local store gains nothing from a second copy. */
  keeps(store: Store): boolean {
    return store.remote;
  }

  /** The cached archives, to be looked up before `stores`: only when they include a remote one, for the same reason. */
  archivesFor(stores: readonly Store[]): CacheStore | undefined {
    return stores.some((store) => this.keeps(store)) ? this.archives : undefined;
  }

  /** Drops least recently used archives and trees until the total fits; `keep` (just added) stays. */
  async evict(keep: string): Promise<string[]> {
    if (this.maxBytes === undefined) return [];
    const archives = await Promise.all(
      (await this.archives.list()).map(async (record) => ({
        what: `archive ${record.key}`,
        key: record.key,
        bytes: record.size,
        used: await this.archives.lastUsed(record.key),
        drop: () => this.archives.discard(record),
      })),
    );
    const trees = (await this.trees.list()).map((tree) => ({ what: `unpacked ${tree.key}`, ...tree, drop: () => this.trees.discard(tree.key) }));
    const items = [...archives, ...trees].sort((a, b) => a.used - b.used);
    let total = items.reduce((sum, item) => sum + item.bytes, 0);
    const evicted: string[] = [];
    for (const item of items) {
      if (total <= this.maxBytes) break;
      if (item.key === keep) continue;
      await item.drop();
      total -= item.bytes;
      evicted.push(item.what);
    }
    return evicted;
  }
}
