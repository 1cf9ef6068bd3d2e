import { ChecksumStream } from '../archive/checksum.js';
import { unpackLimits } from '../archive/extract.js';
import { inspectArchive } from '../archive/inspect.js';
import { TerrariumError, describeCause } from '../errors.js';
import type { ArchiveRecord, Store } from './store.js';

/**
 * Why the archive a store holds under `record` cannot be installed by anyone (missing, damaged,
 * hostile, or beyond its record's counts), or undefined when it reads through every check of an
 * install. Nothing is written: this is how a rebuild with --no-download decides whether the record in
 * its way is one to replace. Store failures (unreachable, access denied) are thrown, not judged.
 */
export async function flawOfStored(store: Store, record: ArchiveRecord, signal?: AbortSignal): Promise<string | undefined> {
  try {
    const stream = await store.open(record);
    const checksum = new ChecksumStream({ limit: record.size });
    signal?.addEventListener('abort', () => stream.destroy(signal.reason as Error), { once: true });
    await inspectArchive([stream, checksum], record.codec, unpackLimits(record));
    return checksum.hex() === record.sha256 ? undefined : 'its bytes do not match the sha256 recorded for them';
  } catch (error) {
    signal?.throwIfAborted();
    if (error instanceof TerrariumError && ['ARCHIVE_CORRUPT', 'ARCHIVE_HOSTILE'].includes(error.code)) return describeCause(error);
    throw error;
  }
}
