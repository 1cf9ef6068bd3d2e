import { promises as fs } from 'node:fs';
import path from 'node:path';
import { extractLayers, unpackLimits } from '../archive/extract.js';
import { TerrariumError, describeCause } from '../errors.js';
import type { LinkMethod } from '../io/file-ops.js';
import { removeTree } from '../io/fs.js';
import { describeInterpreter, incompatibility, platformOf, type Fingerprint } from '../python/fingerprint.js';
import { finishRelocation } from './relocation.js';
import type { Manifest } from '../archive/manifest.js';
import { outsideLinks } from '../relocate/relocations.js';
import { makeRelocator, type Relocator } from '../relocate/relocator.js';
import { formatBytes, formatCount, formatTransfer } from '../report/format.js';
import { checkArchiveSignature } from '../sign/archive-signature.js';
import { shownLine } from '../key/line-diff.js';
import { DamagedCacheLayer, archiveSource, layeredSource } from './archive-sources.js';
import type { LocalCache } from '../cache/local-cache.js';
import type { ArchiveRecord, Store } from '../stores/store.js';
import { UNPACKED_FORMAT } from '../cache/unpacked.js';
import type { InstallOptions } from './install.js';
import type { JobContext } from './settings.js';

export interface RestoreJob extends Pick<InstallOptions, 'local' | 'link' | 'requireDownload' | 'allowOutsidePaths' | 'trusted'>, JobContext {
  key: string;
  python: Fingerprint;
  staging: string;
  target: string;
  /** Searched in order; the first usable archive wins. */
  stores: Store[];
  /** Checks staging once it is complete (the smoke check): a failure there counts against the archive. */
  check: (staging: string) => Promise<void>;
  /** Filled with the stores that could not be reached (then passed over, unless --require-download). */
  unreachable: Set<Store>;
}

/** Link mode is on with a local cache, unless --link-mode none. */
export function linkModeOf(job: RestoreJob): { cache: LocalCache; method: LinkMethod; explicit: boolean } | undefined {
  return job.link && job.local ? { cache: job.local, ...job.link } : undefined;
}

/**
 * How an archive built elsewhere is moved here; refused (before anything is unpacked) when it was built
 * for an interpreter that cannot run it, or links outside the environment without --allow-outside-paths.
 */
export function relocatorFor(manifest: Manifest, job: RestoreJob): Relocator {
  const mismatch = incompatibility(manifest.python, job.python);
  if (mismatch) {
    throw new TerrariumError(
      'PYTHON_INCOMPATIBLE',
      `archive ${job.key} was built for ${describeInterpreter(manifest.python)}, which cannot run on ${job.python.executable}: ${mismatch}`,
      {
        hint: 'pass a matching interpreter with --python, or build for this one with --no-download',
      },
    );
  }
  const outside = outsideLinks(manifest.externalLinks, manifest.python.prefix);
  if (outside.length && !job.allowOutsidePaths) {
    const links = outside.map((link) => `${link.path} -> ${link.target}`).join(', ');
    throw new TerrariumError('ARCHIVE_UNTRUSTED', `not installed: it links outside the environment (${links})`, {
      hint: 'pass --allow-outside-paths if those paths exist and are meant to be used here',
    });
  }
  return makeRelocator(manifest, job.target, job.python);
}

export function noteLinkMethod(job: RestoreJob, cacheDir: string, wanted: { method: LinkMethod; explicit: boolean }, method: LinkMethod): void {
  if (wanted.explicit && method !== wanted.method)
    job.reporter.warn(`--link-mode ${wanted.method} is not possible between ${cacheDir} and ${job.target}; used ${method}`);
  else job.reporter.detail(`files linked from the cache by ${method}`);
}

/**
 * Streams one archive through sha256 (and the signature's BLAKE2b-512), decompression and the entry
 * checks into staging, within the limits its record sets; a layered archive layer after layer, each
 * through its own sha256. From a remote store with a cache, the same bytes are also written beside
 * staging and, once verified, added to the cache: the next install of this key downloads nothing, and
 * a layered archive's layers already in the cache are not downloaded at all. With a local cache, the
 * tree is also unpacked there as archived (staging's files are linked from it), for the next install
 * to link.
 */
export async function restoreArchive(job: RestoreJob, store: Store, record: ArchiveRecord): Promise<void> {
  try {
    await restoreOnce(job, store, record, true);
  } catch (error) {
    if (!(error instanceof DamagedCacheLayer)) throw error;
    job.reporter.warn(`${error.message}; restoring ${record.key} from ${store.description} instead`);
    await removeTree(job.staging);
    await restoreOnce(job, store, record, false);
  }
}

async function restoreOnce(job: RestoreJob, store: Store, record: ArchiveRecord, useCache: boolean): Promise<void> {
  const { staging, target, python } = job;
  // Kept with what the cache keeps of this archive, so that a later run trusting keys can use that too.
  const signatureText = job.trusted.length || job.local ? await store.signature(record) : undefined;
  // Everything a signature says is checked before a byte of the archive is fetched; its file half at the end.
  const signature = job.trusted.length ? checkArchiveSignature(signatureText, record, job.trusted) : undefined;
  await fs.mkdir(staging, { mode: 0o755 });
  const cache = job.local?.keeps(store) ? job.local.archives : undefined;
  const options = { cache, target, signature, signal: job.signal };
  const source = record.layers ? layeredSource(store, { ...record, layers: record.layers }, { ...options, useCache }) : archiveSource(store, record, options);
  const link = linkModeOf(job);
  const unpackTo = link && (await reserveUnpacked(job, link));
  const progress = { files: 0, bytes: 0 };
  const started = Date.now();
  try {
    const keep = link && unpackTo ? { root: unpackTo, method: link.method } : undefined;
    const extracted = await job.reporter.during(
      store.remote ? 'download' : 'unpack',
      async (phase) => {
        const result = await extractLayers(source.parts, record.codec, staging, (manifest) => relocatorFor(manifest, job), {
          keep,
          progress,
          limits: unpackLimits(record),
        });
        source.finish();
        await finishRelocation(staging, result.manifest, target, python);
        await job.check(staging);
        const layers = record.layers ? ` in ${formatCount(record.layers.length, 'layer')}` : '';
        phase.done(
          `${formatBytes(record.size)}${layers} from ${store.description}, verified${signature ? ` and signed by ${signature.signer.id}` : ''}; ${formatCount(result.files, 'file')}, ${formatBytes(result.bytes)}`,
        );
        return result;
      },
      () => `${formatTransfer(source.bytes(), record.size, Date.now() - started)} · ${formatCount(progress.files, 'file')}`,
    );
    const { manifest } = extracted;
    const counts = { unpackedSize: extracted.bytes, entries: extracted.entryCount };
    if (cache) {
      await source
        .keep(
          cache,
          {
            sha256: record.sha256,
            size: record.size,
            codec: record.codec,
            ...counts,
            signature: signatureText,
            requirements: manifest.requirements.map(shownLine),
            platform: platformOf(manifest.python),
          },
          record.tool,
        )
        .then(
          (kept) => kept && job.reporter.detail(`kept ${record.key} in the ${cache.description}`),
          (error: unknown) => job.reporter.warn(`could not keep ${record.key} in the cache: ${describeCause(error)}`),
        );
    }
    if (link && unpackTo) {
      noteLinkMethod(job, link.cache.dir, link, extracted.method ?? link.method);
      const index = {
        format: UNPACKED_FORMAT as typeof UNPACKED_FORMAT,
        key: record.key,
        manifest,
        entries: extracted.entries!,
        bytes: extracted.bytes,
        sha256: record.sha256,
        signature: signatureText,
      };
      await link.cache.trees.commit(record.key, unpackTo, index).then(
        // Said once, on the install that makes it: the copy takes disk, and some users will want none.
        () =>
          job.reporter.info(
            `kept an unpacked copy of ${record.key} (${formatBytes(extracted.bytes)}) in ${link.cache.trees.root} for repeat installs to link from; --link-mode none keeps none`,
          ),
        (error: unknown) => job.reporter.warn(`could not keep an unpacked copy of ${record.key} in the cache: ${describeCause(error)}`),
      );
    }
    if (cache || unpackTo) {
      const evicted = await job.local!.evict(record.key).catch((error: unknown) => [`nothing (${describeCause(error)})`]);
      if (evicted.length) job.reporter.detail(`cache over --cache-max-size: dropped ${evicted.join(', ')}`);
    }
  } finally {
    if (unpackTo) await removeTree(unpackTo);
    await source.dispose();
  }
}

/**
 * A directory in the cache to unpack into, or undefined when a copy there would not pay: on another
 * file system than the target nothing can be linked or cloned, and copying every file twice makes this
 * install slower (unless --link-mode copy asks for exactly that).
 */
async function reserveUnpacked(job: RestoreJob, link: NonNullable<ReturnType<typeof linkModeOf>>): Promise<string | undefined> {
  try {
    const dir = await link.cache.trees.reserve(job.key);
    const [cache, here] = await Promise.all([fs.stat(dir), fs.stat(path.dirname(job.target))]);
    if (cache.dev === here.dev || link.method === 'copy') return dir;
    await removeTree(dir);
    job.reporter.detail(`no unpacked copy kept: the cache (${link.cache.dir}) is on another file system than ${job.target}`);
  } catch (error) {
    job.reporter.warn(`cannot keep an unpacked copy in the cache: ${describeCause(error)}`);
  }
  return undefined;
}
