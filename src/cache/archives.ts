import { promises as fs } from 'node:fs';
import { pathExists, statOrMissing } from '../io/fs.js';
import { DirectoryStore } from '../stores/dir.js';
import type { ArchiveRecord } from '../stores/store.js';

/**
 * The archives of the local read-through cache: a directory store that remembers when each archive was
 * last used (the record's mtime), for LocalCache's eviction. Eviction removes the record before the
 * archive, so a reader either finds both or neither; one that already opened the archive keeps reading
 * it (unlinked files live while open).
 */
export class CacheStore extends DirectoryStore {
  constructor(root: string) {
    super(root, { what: 'cache', title: 'cache', hint: 'check --cache-dir (or TERRARIUM_CACHE_DIR), or pass --no-cache' });
  }

  override async archives(key: string): Promise<ArchiveRecord[]> {
    const record = await super.archives(key);
    if (record.length) {
      const now = new Date();
      await fs.utimes(this.recordPath(key), now, now).catch(() => undefined);
    }
    return record;
  }

  /** Whether the layer's blob is here (not read: publishing checks its bytes before using it). */
  async hasBlob(layer: { sha256: string }): Promise<boolean> {
    return pathExists(this.blobPath(layer.sha256));
  }

  /** When the archive was last looked up (or added), in ms; 0 once it is gone. */
  async lastUsed(key: string): Promise<number> {
    return (await statOrMissing(this.recordPath(key)))?.mtimeMs ?? 0;
  }
}
