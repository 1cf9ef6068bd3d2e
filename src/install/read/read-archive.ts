import { unpackLimits } from '../../archive/parts.js';
import { DamagedInCache } from '../../cache/layout.js';
import { removeTree } from '../../io/fs.js';
import type { ReportEvent } from '../../report/events.js';
import { formatCount, formatTransfer } from '../../report/format.js';
import type { ArchiveRecord, Store } from '../../stores/store.js';
import { keepRead } from './keep.js';
import { type OpenedSource, openSource } from './open-source.js';
import type { RestoreJob } from './read-job.js';
import { relocateStaged, writeEntries } from './write-entries.js';

/**
 * Reads one stored archive into staging, and returns how many bytes of it were read (parts linked from the cache are not), in four steps: open and verify its source (open-source.ts),
 * check and write its entries (write-entries.ts), relocate and check the result (the same file), keep
 * what the cache keeps of it (keep.ts). A part of it the cache held that turns out damaged is dropped
 * there, and the archive read again from the store alone.
 */
export async function readArchive(job: RestoreJob, store: Store, record: ArchiveRecord): Promise<number> {
  try {
    return await readOnce(job, store, record, true);
  } catch (error) {
    if (!(error instanceof DamagedInCache)) throw error;
    job.reporter.warn({ code: 'CACHED_ARCHIVE_BAD', store: store.description, key: record.key, cause: error.message });
    await removeTree(job.staging);
    return readOnce(job, store, record, false);
  }
}

async function readOnce(job: RestoreJob, store: Store, record: ArchiveRecord, useCache: boolean): Promise<number> {
  const opened = await openSource(job, store, record, useCache);
  try {
    const progress = { files: 0, bytes: 0 };
    const started = Date.now();
    const written = await job.reporter.during(
      store.remote ? 'download' : 'unpack',
      async (phase) => {
        const result = await writeEntries(job, opened.parts, {
          codec: record.codec,
          record,
          method: opened.link?.method,
          progress,
          limits: unpackLimits(record),
        });
        opened.source.finish();
        await relocateStaged(job, result.manifest);
        phase.done(readEvent(store, record, opened, result));
        return result;
      },
      () => `${formatTransfer(opened.source.bytes(), record.size, Date.now() - started)} · ${formatCount(progress.files, 'file')}`,
    );
    await keepRead(job, record, opened, written);
    return opened.source.bytes();
  } finally {
    await opened.close();
  }
}

/** What was read, for the phase's summary. */
function readEvent(store: Store, record: ArchiveRecord, opened: OpenedSource, written: { files: number; bytes: number }): ReportEvent {
  const read = record.layers?.filter((layer) => !opened.linked.has(layer.sha256)) ?? [];
  return {
    code: 'ARCHIVE_READ',
    store: store.description,
    bytes: record.size,
    layers: record.layers?.length,
    layersRead: read.length,
    bytesRead: read.reduce((sum, layer) => sum + layer.size, 0),
    linked: opened.linked.size,
    signer: opened.signature?.signer.id,
    files: written.files,
    written: written.bytes,
  };
}
