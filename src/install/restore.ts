import { describeCause, TerrariumError } from '../errors.js';
import { removeTree } from '../io/fs.js';
import { platformOf } from '../python/fingerprint.js';
import { LinksOutside } from '../stores/acceptance.js';
import { type ArchiveRecord, isWritable, type Store } from '../stores/store.js';
import { chooseVariant, describePlatform } from '../stores/variants.js';
import { readArchive } from './read/read-archive.js';
import type { Restored, RestoreJob } from './read/read-job.js';
import { readUnpacked } from './read/read-unpacked.js';

/** Archives that cannot be good for anyone: removed from the store that served them, so that a good one replaces them. */
const DISCARDED = new Set(['ARCHIVE_CORRUPT', 'ARCHIVE_HOSTILE', 'SMOKE_CHECK_FAILED']);
/** Archives that may be good elsewhere (another interpreter, another reader's trust, a newer terrarium): a miss here, left in place. */
const PASSED_OVER = new Set(['ARCHIVE_UNSUPPORTED', 'ARCHIVE_UNTRUSTED', 'PYTHON_INCOMPATIBLE']);

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
    const record = chooseVariant(archives, platformOf(job.python));
    reporter.detail(`${store.description}: ${record ? `found ${job.key} (${record.size} bytes)` : `no ${job.key}`}`);
    if (!record) {
      // A key holds one archive per platform: one for another platform is a miss worth naming.
      if (archives[0]) reporter.info(`${store.description} holds ${job.key} for ${describePlatform(archives[0].platform)} only, which cannot run here`);
      continue;
    }
    try {
      await readArchive(job, store, record);
      return { kind: 'restored', store: store.description };
    } catch (error) {
      await removeTree(job.staging);
      job.signal?.throwIfAborted();
      if (passOverOutage(job, store, error)) continue;
      if (!(error instanceof TerrariumError) || !(DISCARDED.has(error.code) || PASSED_OVER.has(error.code))) throw error;
      if (error instanceof LinksOutside) job.linksOutside.add(store);
      // A failed smoke check may be the local interpreter's doing: never blamed on the archive before that is ruled out.
      if (error.code === 'SMOKE_CHECK_FAILED') await job.confirm();
      let why = `${store.description}: archive ${job.key} ${error.code === 'ARCHIVE_UNTRUSTED' ? 'was' : 'is unusable:'} ${error.message}`;
      if (DISCARDED.has(error.code)) {
        // Damaged, hostile or broken: left in place, it would be served again and block a good one's publication.
        why += isWritable(store)
          ? await store.discard(record).then(
              () => ' (removed from the store)',
              (cause: unknown) => ` (could not remove it: ${describeCause(cause)})`,
            )
          : ' (left in place: terrarium does not write to this store)';
      }
      // Under --require-download the next store may still serve it (the cache's copy is damaged, the bucket's good).
      if (job.settings.requireDownload) refused ??= new TerrariumError(error.code, why, { hint: error.hint, cause: error });
      else reporter.warn(`${why}; building instead`);
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
  job.reporter.warn(`${error.message}; going on without ${store.description}`);
  return true;
}
