import type { LocalArchive } from '../archive/save.js';
import type { Platform } from '../python/fingerprint.js';
import { discardRecord, publishRecord, type RecordFiles, replaceRecord } from './record-change.js';
import type { ArchiveRecord, PublishResult, TransferProgress } from './store.js';
import { chooseVariant, variantsOf } from './variants.js';

/**
 * What every writable store shares once it gives record-change.ts its RecordFiles: reading a key's
 * archives, choosing the one for a platform, and publishing, replacing and discarding through the one
 * algorithm that changes records. A store adds how its records and blobs are kept.
 */
export abstract class RecordStore {
  protected abstract readonly records: RecordFiles;

  /** Every archive of `key`, one per platform, the first published first; empty when there is none. */
  async archives(key: string): Promise<ArchiveRecord[]> {
    const document = (await this.records.read(key))?.document;
    return document ? variantsOf(document) : [];
  }

  async lookup(key: string, local?: Platform): Promise<ArchiveRecord | undefined> {
    return chooseVariant(await this.archives(key), local);
  }

  async publish(key: string, archive: LocalArchive, tool: string, progress?: TransferProgress): Promise<PublishResult> {
    return publishRecord(this.records, key, archive, tool, progress);
  }

  async replace(bad: ArchiveRecord, archive: LocalArchive, tool: string, progress?: TransferProgress): Promise<PublishResult> {
    return replaceRecord(this.records, bad, archive, tool, progress);
  }

  async discard(record: ArchiveRecord): Promise<void> {
    await discardRecord(this.records, record);
  }
}
