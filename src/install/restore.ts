import { describeCause, TerrariumError } from '../errors.js';
import { removeTree } from '../io/fs.js';
import { platformOf } from '../python/fingerprint.js';
import type { ReportEvent } from '../report/events.js';
import { describeEvent } from '../report/words.js';
import { acceptCarried, LinksOutside } from '../stores/acceptance.js';
import { type ArchiveRecord, isWritable, type Store } from '../stores/store.js';
import { chooseCarried, chooseVariant, describePlatform } from '../stores/variants.js';
import { readArchive } from './read/read-archive.js';
import type { Restored, RestoreJob } from './read/read-job.js';
import { readUnpacked } from './read/read-unpacked.js';

type Refusal = Extract<ReportEvent, { code: 'ARCHIVE_REFUSED' }>;

/** Archives that cannot be good for anyone: removed from the store that served them, so that a good one replaces them. */
const DISCARDED = new Set(['ARCHIVE_CORRUPT', 'ARCHIVE_HOSTILE', 'SMOKE_CHECK_FAILED']);
/** Archives that may be good elsewhere (another interpreter, another reader's trust, a newer terrarium): a miss here, left in place. */
const PASSED_OVER = new Set(['ARCHIVE_UNSUPPORTED', 'ARCHIVE_UNTRUSTED', 'PYTHON_INCOMPATIBLE', 'PYTHON_LIBRARY_MISSING']);

/** Restores the first usable archive into staging; returns where it came from, or undefined on a miss. */
export async function restoreFromStores(job: RestoreJob): Promise<Restored | undefined> {
  const { reporter } = job;
  const linked = await readUnpacked(job);
  if (linked) return linked;
  let refused: TerrariumError | undefined;
  for (const store of job.stores) {
    let archives: ArchiveRecord[];
    try {
      archives = await store.archives(job.key);
    } catch (error) {
      if (passOverOutage(job, store, error)) continue;
      throw error;
    }
    const record = job.carried ? chooseCarried(archives, job.carried) : chooseVariant(archives, platformOf(job.python!));
    reporter.detail({ code: 'STORE_LOOKUP', store: store.description, key: job.key, size: record?.size });
    if (!record) {
      // A key holds one archive per platform: one for another platform is a miss worth naming.
      if (archives[0]) reporter.info({ code: 'OTHER_PLATFORM_ONLY', store: store.description, key: job.key, platform: describePlatform(archives[0].platform) });
      continue;
    }
    try {
      // Before any byte is read: a carried interpreter this machine cannot run is a miss here.
      if (job.carried && record.portable) acceptCarried(record.portable, record.platform!, job.carried, job.key);
      const bytes = await readArchive(job, store, record);
      return { kind: 'restored', store: store.description, bytes };
    } catch (error) {
      await removeTree(job.staging);
      job.signal?.throwIfAborted();
      if (passOverOutage(job, store, error)) continue;
      if (!(error instanceof TerrariumError) || !(DISCARDED.has(error.code) || PASSED_OVER.has(error.code))) throw error;
      if (error instanceof LinksOutside) job.linksOutside.add(store);
      // A failed smoke check may be the local interpreter's doing: never blamed on the archive before that is ruled out.
      if (error.code === 'SMOKE_CHECK_FAILED') await job.confirm();
      const why: Refusal = {
        code: 'ARCHIVE_REFUSED',
        store: store.description,
        key: job.key,
        reason: error.code,
        untrusted: error.code === 'ARCHIVE_UNTRUSTED',
        cause: error.message,
        // Damaged, hostile or broken: left in place, it would be served again and block a good one's publication.
        ...(DISCARDED.has(error.code) ? await discard(store, record) : {}),
      };
      // Under --require-download the next store may still serve it (the cache's copy is damaged, the bucket's good).
      if (job.settings.requireDownload) refused ??= new TerrariumError(error.code, describeEvent(why), { hint: error.hint, cause: error });
      else reporter.warn({ code: 'BUILDING_INSTEAD', refused: why });
    }
  }
  if (refused) throw refused;
  return undefined;
}

/**
 * An outage (refused, DNS, timeouts or 5xx after the retries) is no reason to fail a job that can
 * build: it is said, and the store is left out of publishing too. Under --require-download it stays
 * the error it is (exit 5).
 */
function passOverOutage(job: RestoreJob, store: Store, error: unknown): boolean {
  if (!(error instanceof TerrariumError) || error.code !== 'STORAGE_UNREACHABLE' || job.settings.requireDownload) return false;
  job.unreachable.add(store);
  job.reporter.warn({ code: 'STORE_UNREACHABLE', store: store.description, cause: error.message });
  return true;
}

/** Removes a refused archive from its store, where terrarium writes: what became of it. */
async function discard(store: Store, record: ArchiveRecord): Promise<Pick<Refusal, 'removal' | 'removalCause'>> {
  if (!isWritable(store)) return { removal: 'read-only' };
  return store.discard(record).then(
    () => ({ removal: 'removed' }),
    (cause: unknown) => ({ removal: 'failed', removalCause: describeCause(cause) }),
  );
}
