import { createWriteStream, promises as fs } from 'node:fs';
import { PassThrough, addAbortSignal, type Readable, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { ChecksumStream } from '../archive/checksum.js';
import { decompressor } from '../archive/codecs.js';
import { extractEnvironment } from '../archive/extract.js';
import { TerrariumError, describeCause } from '../errors.js';
import { failpoint } from '../io/failpoint.js';
import { removeTree, siblingPath } from '../io/fs.js';
import { describeInterpreter, incompatibility, type Fingerprint } from '../python/fingerprint.js';
import { finishRelocation } from '../relocate/apply.js';
import { makeRelocator } from '../relocate/relocator.js';
import type { Reporter } from '../report/reporter.js';
import type { ArchiveRecord, Store } from '../stores/store.js';

export interface RestoreJob {
  key: string;
  python: Fingerprint;
  staging: string;
  target: string;
  /** Searched in order; the first usable archive wins. */
  stores: Store[];
  /** Where archives from remote stores are kept, as they stream past. */
  cache: Store | undefined;
  requireDownload: boolean;
  signal: AbortSignal | undefined;
  reporter: Reporter;
}

const UNUSABLE = new Set(['ARCHIVE_CORRUPT', 'ARCHIVE_HOSTILE', 'ARCHIVE_UNSUPPORTED']);

/** Restores the first usable archive into staging; returns the store it came from, or undefined on a miss. */
export async function restoreFromStores(job: RestoreJob): Promise<string | undefined> {
  const { reporter } = job;
  for (const store of job.stores) {
    const record = await store.lookup(job.key);
    reporter.detail(`${store.description}: ${record ? `found ${job.key} (${record.size} bytes)` : `no ${job.key}`}`);
    if (!record) continue;
    try {
      await restore(job, store, record);
      failpoint('install-restored');
      return store.description;
    } catch (error) {
      await removeTree(job.staging);
      job.signal?.throwIfAborted();
      if (!(error instanceof TerrariumError) || !UNUSABLE.has(error.code)) throw error;
      let why = `${store.description}: archive ${job.key} is unusable: ${error.message}`;
      if (error.code !== 'ARCHIVE_UNSUPPORTED') {
        // Damaged or tampered with: left in place, it would be served again and block a good one's publication.
        why += await store.discard(record).then(
          () => ' (removed from the store)',
          (cause: unknown) => ` (could not remove it: ${describeCause(cause)})`,
        );
      }
      if (job.requireDownload) throw new TerrariumError(error.code, why, { hint: error.hint, cause: error });
      reporter.warn(`${why}; building instead`);
    }
  }
  return undefined;
}

/**
 * Streams one archive through sha256, decompression and the entry checks into staging. From a remote
 * store with a cache, the same bytes are also written to a file beside staging and, once verified,
 * added to the cache: the next install of this key downloads nothing.
 */
async function restore(job: RestoreJob, store: Store, record: ArchiveRecord): Promise<void> {
  const { staging, target, python } = job;
  await fs.mkdir(staging, { mode: 0o755 });
  const download = await store.open(record);
  if (job.signal) addAbortSignal(job.signal, download);
  const keep = store.remote && job.cache ? siblingPath(target, 'download') : undefined;
  let source: Readable = download;
  let copy: Writable | undefined;
  let kept: Promise<unknown> | undefined;
  if (keep) {
    source = download.pipe(new PassThrough());
    copy = download.pipe(createWriteStream(keep, { flags: 'wx', mode: 0o644 }));
    kept = finished(copy).then(() => undefined, (error: unknown) => error ?? new Error('copy failed'));
  }
  try {
    const checksum = new ChecksumStream();
    const { manifest } = await extractEnvironment([source, checksum, decompressor(record.codec)], staging, (manifest) => {
      const mismatch = incompatibility(manifest.python, python);
      if (mismatch) {
        throw new TerrariumError('PYTHON_INCOMPATIBLE', `archive ${record.key} was built for ${describeInterpreter(manifest.python)}, which cannot run on ${python.executable}: ${mismatch}`, {
          hint: 'pass a matching interpreter with --python, or build for this one with --no-download',
        });
      }
      return makeRelocator(manifest, target, python);
    });
    if (checksum.hex() !== record.sha256) {
      throw new TerrariumError('ARCHIVE_CORRUPT', 'its bytes do not match the sha256 recorded for them', {
        hint: 'the stored copy is damaged; run without --require-download to rebuild and republish it',
      });
    }
    await finishRelocation(staging, manifest, target, python);
    if (keep && (await kept) === undefined) {
      await job.cache!.publish(record.key, { path: keep, sha256: checksum.hex(), size: checksum.bytes, codec: record.codec }, record.tool).then(
        () => job.reporter.detail(`kept ${record.key} in the ${job.cache!.description}`),
        (error: unknown) => job.reporter.warn(`could not keep ${record.key} in the cache: ${describeCause(error)}`),
      );
    }
  } finally {
    if (keep) {
      // After a failure the download may still be flowing into the copy: stop both before removing it.
      download.destroy();
      copy!.destroy();
      await kept;
      await fs.rm(keep, { force: true });
    }
  }
}
