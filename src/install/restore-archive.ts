import { promises as fs } from 'node:fs';
import path from 'node:path';
import { type ExtractResult, extractLayers } from '../archive/extract.js';
import type { Manifest } from '../archive/manifest.js';
import { type Part, unpackLimits } from '../archive/parts.js';
import { DamagedInCache } from '../cache/layout.js';
import type { LocalCache } from '../cache/local-cache.js';
import { treeDigests, UNPACKED_FORMAT, type UnpackedIndex, type UnpackedTree } from '../cache/unpacked-index.js';
import { describeCause } from '../errors.js';
import type { LinkMethod } from '../io/file-ops.js';
import { removeTree } from '../io/fs.js';
import { shownLine } from '../key/line-diff.js';
import { type Fingerprint, platformOf } from '../python/fingerprint.js';
import { makeRelocator, type Relocator } from '../relocate/relocator.js';
import { formatBytes, formatCount, formatTransfer } from '../report/format.js';
import { acceptManifest, acceptSignature } from '../stores/acceptance.js';
import type { ArchiveRecord, Store } from '../stores/store.js';
import { archiveSource, layeredSource } from './archive-sources.js';
import { finishRelocation } from './relocation.js';
import type { InstallOptions, JobContext, RestoreSettings } from './settings.js';

export interface RestoreJob extends Pick<InstallOptions, 'local' | 'trusted'>, JobContext {
  settings: RestoreSettings;
  key: string;
  python: Fingerprint;
  staging: string;
  target: string;
  /** Searched in order; the first usable archive wins. */
  stores: Store[];
  /** Checks staging once it is complete (the smoke check): a failure there counts against the archive. */
  check: (staging: string) => Promise<void>;
  /** Throws when what this run believes of the interpreter was not true (the cache's facts): then a failed check is not the archive's fault. */
  confirm: () => Promise<void>;
  /** Filled with the stores that could not be reached (then passed over, unless --require-download). */
  unreachable: Set<Store>;
  /** Filled with the stores whose archive was passed over for linking outside (a build here that does not may replace it). */
  linksOutside: Set<Store>;
}

/** Link mode is on with a local cache, unless --link-mode none. */
export function linkModeOf(job: RestoreJob): { cache: LocalCache; method: LinkMethod; explicit: boolean } | undefined {
  return job.settings.link && job.local ? { cache: job.local, ...job.settings.link } : undefined;
}

/**
 * How an archive built elsewhere is moved here; refused (before anything is unpacked) when an install
 * here would not take it (stores/acceptance.ts).
 */
export function relocatorFor(manifest: Manifest, job: RestoreJob, record?: ArchiveRecord): Relocator {
  acceptManifest(manifest, record, { key: job.key, python: job.python, allowOutsidePaths: job.settings.allowOutsidePaths });
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
    if (!(error instanceof DamagedInCache)) throw error;
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
  const signature = acceptSignature(signatureText, record, job.trusted);
  await fs.mkdir(staging, { mode: 0o755 });
  const cache = job.local?.caches(store) ? job.local.archives : undefined;
  const link = linkModeOf(job);
  // In link mode, the layers the cache has unpacked already (for other keys) are linked from there, not read.
  const linked = new Map<string, UnpackedTree>();
  for (const layer of link && useCache ? (record.layers ?? []) : []) {
    // With trusted keys, only a tree the signature gives a digest can be checked, and so linked.
    if (job.trusted.length && layer.tree === undefined) continue;
    const tree = await link!.cache.trees.findTree(layer.sha256);
    if (tree) linked.set(layer.sha256, tree);
  }
  const options = { cache, target, signature, signal: job.signal };
  const source = record.layers
    ? layeredSource(store, { ...record, layers: record.layers }, { ...options, useCache, linked: new Set(linked.keys()) })
    : archiveSource(store, record, options);
  const trees = treeDigests(record);
  const reserved = new Map<number, string>();
  const progress = { files: 0, bytes: 0 };
  const started = Date.now();
  try {
    if (link && (await canKeepUnpacked(job, link)))
      for (const [index, sha256] of trees.entries()) if (!linked.has(sha256)) reserved.set(index, await link.cache.trees.reserve(sha256));
    const parts = trees.map((sha256, index) => {
      const tree = linked.get(sha256);
      return tree
        ? link!.cache.trees.part(tree, job.trusted.length ? record.layers![index]!.tree : undefined)
        : { ...source.parts[index]!, unpackInto: reserved.get(index) };
    }) as [Part, ...Part[]];
    const extracted = await job.reporter.during(
      store.remote ? 'download' : 'unpack',
      async (phase) => {
        const result = await extractLayers(parts, record.codec, staging, (manifest) => relocatorFor(manifest, job, record), {
          method: link?.method,
          progress,
          limits: unpackLimits(record),
        });
        source.finish();
        await finishRelocation(staging, result.manifest, target, python);
        await job.check(staging);
        const read = record.layers?.filter((layer) => !linked.has(layer.sha256));
        const what = !record.layers
          ? formatBytes(record.size)
          : linked.size
            ? `${read!.length} of ${record.layers.length} layers (${formatBytes(read!.reduce((sum, layer) => sum + layer.size, 0))})`
            : `${formatBytes(record.size)} in ${formatCount(record.layers.length, 'layer')}`;
        const shared = linked.size ? `, ${linked.size} linked from the cache` : '';
        phase.done(
          `${what} from ${store.description}, verified${signature ? ` and signed by ${signature.signer.id}` : ''}${shared}; ${formatCount(result.files, 'file')}, ${formatBytes(result.bytes)}`,
        );
        return result;
      },
      () => `${formatTransfer(source.bytes(), record.size, Date.now() - started)} · ${formatCount(progress.files, 'file')}`,
    );
    const { manifest } = extracted;
    const counts = { unpackedSize: extracted.bytes, entries: extracted.entryCount };
    if (cache) {
      await source
        .addToCache(
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
    // The key's copy is kept when each of its trees is: unpacked here, or linked from the cache.
    if (link && reserved.size + linked.size === trees.length) {
      noteLinkMethod(job, link.cache.dir, link, extracted.method ?? link.method);
      const index: UnpackedIndex = {
        format: UNPACKED_FORMAT,
        key: record.key,
        sha256: record.sha256,
        signature: signatureText,
        bytes: extracted.bytes,
        layers: record.layers,
      };
      const kept = reserved.size === trees.length;
      await commitUnpacked(link.cache, index, trees, reserved, extracted).then(
        // Said once, on the install that makes it: the copy takes disk, and some users will want none.
        () =>
          kept &&
          job.reporter.info(
            `kept an unpacked copy of ${record.key} (${formatBytes(extracted.bytes)}) in the cache ${link.cache.dir} for repeat installs to link from; --link-mode none keeps none`,
          ),
        (error: unknown) => job.reporter.warn(`could not keep an unpacked copy of ${record.key} in the cache: ${describeCause(error)}`),
      );
    }
    if (cache || reserved.size) {
      const evicted = await job.local!.evict(record.key).catch((error: unknown) => [`nothing (${describeCause(error)})`]);
      if (evicted.length) job.reporter.detail(`cache over --cache-max-size: dropped ${evicted.join(', ')}`);
    }
  } finally {
    for (const dir of reserved.values()) await removeTree(dir);
    await source.dispose();
  }
}

/** Commits the trees this restore unpacked (the first with the manifest), then the key's index that names them with those it linked. */
async function commitUnpacked(
  cache: LocalCache,
  index: UnpackedIndex,
  trees: readonly string[],
  reserved: ReadonlyMap<number, string>,
  extracted: ExtractResult,
): Promise<void> {
  for (const [part, dir] of reserved) {
    const entries = extracted.unpacked[part]!;
    const bytes = entries.reduce((sum, entry) => sum + (entry.type === 'file' ? entry.size : 0), 0);
    await cache.trees.commitTree(dir, {
      format: UNPACKED_FORMAT,
      sha256: trees[part]!,
      entries,
      bytes,
      manifestText: part === 0 ? extracted.manifestText : undefined,
    });
  }
  await cache.trees.commit(index);
}

/**
 * Whether unpacked copies are kept in the cache for this install: not when a copy would not pay. On
 * another file system than the target nothing can be linked or cloned, and copying every file twice
 * makes this install slower (unless --link-mode copy asks for exactly that).
 */
async function canKeepUnpacked(job: RestoreJob, link: NonNullable<ReturnType<typeof linkModeOf>>): Promise<boolean> {
  try {
    const [cache, here] = await Promise.all([link.cache.trees.device(), fs.stat(path.dirname(job.target))]);
    if (cache === here.dev || link.method === 'copy') return true;
    job.reporter.detail(`no unpacked copy kept: the cache (${link.cache.dir}) is on another file system than ${job.target}`);
  } catch (error) {
    job.reporter.warn(`cannot keep an unpacked copy in the cache: ${describeCause(error)}`);
  }
  return false;
}
