import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { PassThrough, addAbortSignal, type Readable, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { ChecksumStream } from '../archive/checksum.js';
import { extractEnvironment } from '../archive/extract.js';
import { TerrariumError, describeCause } from '../errors.js';
import type { LinkMethod } from '../io/file-ops.js';
import { removeTree, siblingPath } from '../io/fs.js';
import { describeInterpreter, incompatibility, type Fingerprint } from '../python/fingerprint.js';
import { finishRelocation } from '../relocate/apply.js';
import type { Manifest } from '../relocate/manifest.js';
import { makeRelocator, type Relocator } from '../relocate/relocator.js';
import { formatBytes, formatCount, formatTransfer } from '../report/format.js';
import type { Reporter } from '../report/reporter.js';
import type { LocalCache } from '../stores/local-cache.js';
import type { ArchiveRecord, Store } from '../stores/store.js';
import { UNPACKED_FORMAT, type UnpackedTrees } from '../stores/unpacked.js';
import { linkTree } from './link-tree.js';

export interface RestoreJob {
  key: string;
  python: Fingerprint;
  staging: string;
  target: string;
  /** Searched in order; the first usable archive wins. */
  stores: Store[];
  /**
   * The local cache: archives from remote stores are kept there as they stream past, and (in link mode)
   * an unpacked copy of each archive, which repeat installs link from.
   */
  local: LocalCache | undefined;
  link: { method: LinkMethod; explicit: boolean } | undefined;
  requireDownload: boolean;
  signal: AbortSignal | undefined;
  reporter: Reporter;
}

const UNUSABLE = new Set(['ARCHIVE_CORRUPT', 'ARCHIVE_HOSTILE', 'ARCHIVE_UNSUPPORTED']);

/** Restores the first usable archive into staging; returns where it came from, or undefined on a miss. */
export async function restoreFromStores(job: RestoreJob): Promise<string | undefined> {
  const { reporter } = job;
  const linked = await restoreFromUnpacked(job);
  if (linked) return linked;
  for (const store of job.stores) {
    const record = await store.lookup(job.key);
    reporter.detail(`${store.description}: ${record ? `found ${job.key} (${record.size} bytes)` : `no ${job.key}`}`);
    if (!record) continue;
    try {
      await restore(job, store, record);
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
 * Link mode: the unpacked copy of this key in the local cache, linked (cloned, copied) into staging.
 * Returns undefined when there is none; a copy that cannot be used is dropped (the stores serve instead).
 */
async function restoreFromUnpacked(job: RestoreJob): Promise<string | undefined> {
  const link = linkMode(job);
  const tree = link && (await link.trees.find(job.key));
  if (!link || !tree) return undefined;
  const where = `unpacked copy in the cache ${link.cacheDir}`;
  try {
    const relocator = relocatorFor(tree.index.manifest, job);
    await fs.mkdir(job.staging, { mode: 0o755 });
    const phase = job.reporter.phase('link');
    let method: LinkMethod;
    try {
      method = await linkTree(tree, job.staging, relocator, link.method);
      noteLinkMethod(job, link, method);
      await finishRelocation(job.staging, tree.index.manifest, job.target, job.python);
      phase.done(`${formatCount(tree.index.entries.length, 'entry', 'entries')} from the cache (${method})`);
    } finally {
      phase.end();
    }
    return `${where} (${method})`;
  } catch (error) {
    await removeTree(job.staging);
    job.signal?.throwIfAborted();
    job.reporter.warn(`${where}: ${job.key} is unusable (${describeCause(error)}); dropped it, using the stores`);
    await link.trees.discard(job.key).catch(() => undefined);
    return undefined;
  }
}

interface LinkMode {
  trees: UnpackedTrees;
  cacheDir: string;
  method: LinkMethod;
  explicit: boolean;
}

/** Link mode is on with a local cache, unless --link-mode none. */
function linkMode(job: RestoreJob): LinkMode | undefined {
  return job.link && job.local ? { trees: job.local.trees, cacheDir: job.local.dir, ...job.link } : undefined;
}

function relocatorFor(manifest: Manifest, job: RestoreJob): Relocator {
  const mismatch = incompatibility(manifest.python, job.python);
  if (mismatch) {
    throw new TerrariumError('PYTHON_INCOMPATIBLE', `archive ${job.key} was built for ${describeInterpreter(manifest.python)}, which cannot run on ${job.python.executable}: ${mismatch}`, {
      hint: 'pass a matching interpreter with --python, or build for this one with --no-download',
    });
  }
  return makeRelocator(manifest, job.target, job.python);
}

function noteLinkMethod(job: RestoreJob, link: LinkMode, method: LinkMethod): void {
  if (link.explicit && method !== link.method) job.reporter.warn(`--link-mode ${link.method} is not possible between ${link.cacheDir} and ${job.target}; used ${method}`);
  else job.reporter.detail(`files linked from the cache by ${method}`);
}

/**
 * Streams one archive through sha256, decompression and the entry checks into staging. From a remote
 * store with a cache, the same bytes are also written to a file beside staging and, once verified,
 * added to the cache: the next install of this key downloads nothing. With a local cache, the tree is
 * also unpacked there as archived (staging's files are linked from it), for the next install to link.
 */
async function restore(job: RestoreJob, store: Store, record: ArchiveRecord): Promise<void> {
  const { staging, target, python } = job;
  await fs.mkdir(staging, { mode: 0o755 });
  const stream = await store.open(record);
  if (job.signal) addAbortSignal(job.signal, stream);
  const download = store.remote && job.local ? siblingPath(target, 'download') : undefined;
  let source: Readable = stream;
  let copy: Writable | undefined;
  let kept: Promise<unknown> | undefined;
  if (download) {
    source = stream.pipe(new PassThrough());
    copy = stream.pipe(createWriteStream(download, { flags: 'wx', mode: 0o644 }));
    kept = finished(copy).then(() => undefined, (error: unknown) => error ?? new Error('copy failed'));
  }
  const link = linkMode(job);
  const unpackTo = link && (await reserveUnpacked(job, link));
  const checksum = new ChecksumStream();
  const progress = { files: 0, bytes: 0 };
  const started = Date.now();
  const phase = job.reporter.phase(store.remote ? 'download' : 'unpack', () => `${formatTransfer(checksum.bytes, record.size, Date.now() - started)} · ${formatCount(progress.files, 'file')}`);
  try {
    const keep = link && unpackTo ? { root: unpackTo, method: link.method } : undefined;
    const extracted = await extractEnvironment([source, checksum], record.codec, staging, (manifest) => relocatorFor(manifest, job), { keep, progress });
    const { manifest } = extracted;
    if (checksum.hex() !== record.sha256) {
      throw new TerrariumError('ARCHIVE_CORRUPT', 'its bytes do not match the sha256 recorded for them', {
        hint: 'the stored copy is damaged; run without --require-download to rebuild and republish it',
      });
    }
    await finishRelocation(staging, manifest, target, python);
    phase.done(`${formatBytes(record.size)} from ${store.description}, verified; ${formatCount(extracted.files, 'file')}, ${formatBytes(extracted.bytes)}`);
    if (download && (await kept) === undefined) {
      const cache = job.local!.archives;
      await cache.publish(record.key, { path: download, sha256: checksum.hex(), size: checksum.bytes, codec: record.codec }, record.tool).then(
        () => job.reporter.detail(`kept ${record.key} in the ${cache.description}`),
        (error: unknown) => job.reporter.warn(`could not keep ${record.key} in the cache: ${describeCause(error)}`),
      );
    }
    if (link && unpackTo) {
      noteLinkMethod(job, link, extracted.method ?? link.method);
      await link.trees.commit(record.key, unpackTo, { format: UNPACKED_FORMAT, key: record.key, manifest, entries: extracted.entries!, bytes: extracted.bytes }).then(
        () => job.reporter.detail(`kept an unpacked copy of ${record.key} in the cache`),
        (error: unknown) => job.reporter.warn(`could not keep an unpacked copy of ${record.key} in the cache: ${describeCause(error)}`),
      );
    }
    if (download || unpackTo) {
      const evicted = await job.local!.evict(record.key).catch((error: unknown) => [`nothing (${describeCause(error)})`]);
      if (evicted.length) job.reporter.detail(`cache over --cache-max-size: dropped ${evicted.join(', ')}`);
    }
  } finally {
    phase.end();
    if (unpackTo) await removeTree(unpackTo);
    if (download) {
      // After a failure the download may still be flowing into the copy: stop both before removing it.
      stream.destroy();
      copy!.destroy();
      await kept;
      await fs.rm(download, { force: true });
    }
  }
}

/**
 * A directory in the cache to unpack into, or undefined when a copy there would not pay: on another
 * file system than the target nothing can be linked or cloned, and copying every file twice makes this
 * install slower (unless --link-mode copy asks for exactly that).
 */
async function reserveUnpacked(job: RestoreJob, link: LinkMode): Promise<string | undefined> {
  try {
    const dir = await link.trees.reserve(job.key);
    const [cache, here] = await Promise.all([fs.stat(dir), fs.stat(path.dirname(job.target))]);
    if (cache.dev === here.dev || link.method === 'copy') return dir;
    await removeTree(dir);
    job.reporter.detail(`no unpacked copy kept: the cache (${link.cacheDir}) is on another file system than ${job.target}`);
  } catch (error) {
    job.reporter.warn(`cannot keep an unpacked copy in the cache: ${describeCause(error)}`);
  }
  return undefined;
}
