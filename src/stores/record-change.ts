import type { LocalArchive } from '../archive/save.js';
import { failpoint } from '../io/failpoint.js';
import { recordFor } from './record.js';
import type { ArchiveRecord, PublishResult, TransferProgress } from './store.js';
import { archiveName } from './store.js';
import { addVariant, chooseVariant, type RecordChange, removeVariant, replaceVariant, variantsOf } from './variants.js';

/** A key's record document as read, with the version a change of it is conditional on (an ETag, a digest of its bytes). */
export interface VersionedRecord {
  document: ArchiveRecord;
  version: string | undefined;
}

/**
 * What a writable store gives the one algorithm that changes records: a read with a version, a write
 * and a removal that hold only while the record is still at the version read, and its archives' own files.
 */
export interface RecordFiles {
  read(key: string): Promise<VersionedRecord | undefined>;
  /**
   * Writes `document` as `key`'s record if it is still as `expected` was read (undefined: no record
   * there); false when another writer got in first. A store whose service ignores the condition
   * writes anyway: the read-back after it tells.
   */
  write(key: string, document: ArchiveRecord, expected: VersionedRecord | undefined): Promise<boolean>;
  /** Removes `key`'s record if it is still as `expected` was read; false when another writer got in first. */
  remove(key: string, expected: VersionedRecord): Promise<boolean>;
  /** Puts the archive's files (blobs, signature) under their final names, before any record names them. */
  place(key: string, archive: LocalArchive, tool: string, progress?: TransferProgress): Promise<ArchiveRecord>;
  /** Removes an archive's own files; a layered archive's blobs may be other records' too, and stay for sweep. */
  removeOwn(record: ArchiveRecord): Promise<void>;
}

/** How often a change is tried again from a fresh read when other writers keep getting in first. */
const ATTEMPTS = 5;

/** Stores a packed archive under `key` unless one there serves its platform already (then nothing is uploaded). */
export async function publishRecord(files: RecordFiles, key: string, archive: LocalArchive, tool: string, progress?: TransferProgress): Promise<PublishResult> {
  const existing = await files.read(key);
  const before = existing && addVariant(existing.document, recordFor(key, archive, tool));
  if (before && 'present' in before) return { record: before.present, outcome: 'present' };
  const record = await files.place(key, archive, tool, progress);
  failpoint('publish-uploaded');
  return changeRecord(files, key, (current) => addVariant(current, record), record);
}

/** Puts a packed archive in the place of `bad`, only while `bad` is still in the record. */
export async function replaceRecord(
  files: RecordFiles,
  bad: ArchiveRecord,
  archive: LocalArchive,
  tool: string,
  progress?: TransferProgress,
): Promise<PublishResult> {
  const record = await files.place(bad.key, archive, tool, progress);
  failpoint('publish-uploaded');
  return changeRecord(files, bad.key, (current) => replaceVariant(current, bad, record), record, bad);
}

/** Takes an archive out of its key's record (the record goes with its last archive), then its own files: a discarded archive is not served again. */
export async function discardRecord(files: RecordFiles, record: ArchiveRecord): Promise<void> {
  await changeRecord(files, record.key, (current) => removeVariant(current, record), record);
  await files.removeOwn(record);
}

/**
 * Read, decide, write if still as read, again from a fresh read when another writer got in between;
 * then read back, so that a writer that lost where the condition is ignored (s3rver, older MinIO: the
 * last writer wins) drops its archive. Our archive's own files go whenever it ends up in no record.
 * Outcomes: `published` when the record now holds ours, `replaced` when ours took `bad`'s place,
 * `present` when nothing of ours was written (another archive serves, or there was nothing to change).
 */
export async function changeRecord(
  files: RecordFiles,
  key: string,
  decide: (current: ArchiveRecord | undefined) => RecordChange,
  ours: ArchiveRecord,
  bad?: ArchiveRecord,
): Promise<PublishResult> {
  const dropOurs = async (kept: ArchiveRecord | undefined) => {
    if (!kept || archiveName(kept) !== archiveName(ours)) await files.removeOwn(ours);
  };
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const current = await files.read(key);
    const decision = decide(current?.document);
    if ('present' in decision) {
      await dropOurs(decision.present);
      return { record: decision.present, outcome: 'present' };
    }
    if ('unchanged' in decision) return { record: ours, outcome: 'present' };
    if ('remove' in decision) {
      if (await files.remove(key, current!)) return { record: ours, outcome: 'published' };
      continue;
    }
    const written = await files.write(key, decision.write, current).catch(async (error: unknown) => {
      await files.removeOwn(ours);
      throw error;
    });
    if (!written) continue;
    failpoint('publish-recorded');
    const holds = (document: ArchiveRecord | undefined) => !!document && variantsOf(document).some((archive) => archive.sha256 === ours.sha256);
    if (holds(decision.write) && !holds((await files.read(key))?.document)) break;
    if (bad && archiveName(bad) !== archiveName(ours)) await files.removeOwn(bad);
    return { record: ours, outcome: bad ? 'replaced' : 'published' };
  }
  const now = (await files.read(key))?.document;
  const theirs = now && chooseVariant(variantsOf(now), ours.platform);
  await dropOurs(theirs);
  return { record: theirs ?? ours, outcome: 'present' };
}
