import { promises as fs } from 'node:fs';
import { DirectoryStore } from './dir.js';
import type { ArchiveRecord, LocalArchive, PublishResult } from './store.js';

/**
 * The local read-through cache: a directory store that remembers when each archive was last used (the
 * record's mtime) and, when given a size cap, evicts the least recently used archives after each
 * addition. Eviction removes the record before the archive, so a reader either finds both or neither;
 * one that already opened the archive keeps reading it (unlinked files live while open).
 */
export class CacheStore extends DirectoryStore {
  constructor(
    root: string,
    private readonly maxBytes: number | undefined,
  ) {
    super(root, { what: 'cache', title: 'cache', hint: 'check --cache-dir (or TERRARIUM_CACHE_DIR), or pass --no-cache' });
  }

  override async lookup(key: string): Promise<ArchiveRecord | undefined> {
    const record = await super.lookup(key);
    if (record) {
      const now = new Date();
      await fs.utimes(this.recordPath(key), now, now).catch(() => undefined);
    }
    return record;
  }

  override async publish(key: string, archive: LocalArchive, tool: string): Promise<PublishResult> {
    const result = await super.publish(key, archive, tool);
    if (this.maxBytes !== undefined) await this.evict(this.maxBytes, key);
    return result;
  }

  /** Drops least recently used archives until the total fits; `keep` (just added) is never dropped. */
  async evict(maxBytes: number, keep: string): Promise<string[]> {
    const entries: Array<{ record: ArchiveRecord; used: number }> = [];
    for (const record of await this.list()) {
      const stat = await fs.stat(this.recordPath(record.key)).catch(() => undefined);
      if (stat) entries.push({ record, used: stat.mtimeMs });
    }
    let total = entries.reduce((sum, e) => sum + e.record.size, 0);
    const evicted: string[] = [];
    for (const { record } of entries.sort((a, b) => a.used - b.used)) {
      if (total <= maxBytes) break;
      if (record.key === keep) continue;
      await this.discard(record);
      total -= record.size;
      evicted.push(record.key);
    }
    return evicted;
  }
}
