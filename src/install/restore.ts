import { promises as fs } from 'node:fs';
import { extractLayers } from '../archive/extract.js';
import { layersPrehash } from '../archive/layers.js';
import type { LinkedPart } from '../archive/parts.js';
import { describeCause, TerrariumError } from '../errors.js';
import type { LinkMethod } from '../io/file-ops.js';
import { removeTree } from '../io/fs.js';
import { platformOf } from '../python/fingerprint.js';
import { formatCount, groupDigits } from '../report/format.js';
import { acceptSignature, LinksOutside } from '../stores/acceptance.js';
import { type ArchiveRecord, isWritable, type Store } from '../stores/store.js';
import { chooseVariant, describePlatform } from '../stores/variants.js';
import { finishRelocation } from './relocation.js';
import { linkModeOf, noteLinkMethod, type RestoreJob, relocatorFor, restoreArchive } from './restore-archive.js';

export type { RestoreJob } from './restore-archive.js';

/** Where a restored environment came from. */
export type Restored = { kind: 'restored'; store: string } | { kind: 'linked'; cacheDir: string; method: LinkMethod };

/** Archives that cannot be good for anyone: removed from the store that served them, so that a good one replaces them. */
const DISCARDED = new Set(['ARCHIVE_CORRUPT', 'ARCHIVE_HOSTILE', 'SMOKE_CHECK_FAILED']);
/** Archives that may be good elsewhere (another interpreter, another reader's trust, a newer terrarium): a miss here, left in place. */
const PASSED_OVER = new Set(['ARCHIVE_UNSUPPORTED', 'ARCHIVE_UNTRUSTED', 'PYTHON_INCOMPATIBLE']);

/** Restores the first usable archive into staging; returns where it came from, or undefined on a miss. */
export async function restoreFromStores(job: RestoreJob): Promise<Restored | undefined> {
  const { reporter } = job;
  const linked = await restoreFromUnpacked(job);
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
      await restoreArchive(job, store, record);
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

/**
 * Link mode: the unpacked copy of this key in the local cache, linked (cloned, copied) into staging.
 * Returns undefined when there is none; a copy that cannot be used is dropped (the stores serve instead).
 */
async function restoreFromUnpacked(job: RestoreJob): Promise<Restored | undefined> {
  const link = linkModeOf(job);
  const copy = link && (await link.cache.trees.find(job.key));
  if (!link || !copy) return undefined;
  const where = `unpacked copy in the cache ${link.cache.dir}`;
  try {
    const { index, trees } = copy;
    // The copy holds no bytes of the archive to check a signature's file half against: what its index
    // says of the archive (digest, signature, a layered one's layers) must verify, and the trees must be
    // as their indexes say.
    // With trusted keys, each tree is checked against the digest the signed layers give it: a copy of an
    // archive whose signature covers no tree digests (one of an earlier version) cannot be, and is not used.
    const signed = job.trusted.length ? index.layers?.map((layer) => layer.tree) : undefined;
    if (job.trusted.length) {
      if (!signed?.every((tree) => tree !== undefined)) return undefined;
      acceptSignature(index.signature, { key: job.key, sha256: index.sha256 }, job.trusted)!.confirm(layersPrehash(index.layers!));
    }
    await fs.mkdir(job.staging, { mode: 0o755 });
    const progress = { files: 0, bytes: 0 };
    const parts = trees.map((tree, i) => link.cache.trees.part(tree, signed?.[i])) as [LinkedPart, ...LinkedPart[]];
    const files = trees.reduce((sum, tree) => sum + tree.index.entries.filter((entry) => entry.type === 'file').length, 0);
    const method = await job.reporter.during(
      'link',
      async (phase) => {
        const linked = await extractLayers(parts, 'none', job.staging, (manifest) => relocatorFor(manifest, job), { method: link.method, progress });
        // Under a signature's check, files are copied as they are hashed.
        const used = signed ? 'copy' : (linked.method ?? link.method);
        if (!signed) noteLinkMethod(job, link.cache.dir, link, used);
        await finishRelocation(job.staging, linked.manifest, job.target, job.python);
        await job.check(job.staging);
        const from = trees.length > 1 ? ` in ${formatCount(trees.length, 'tree')}` : '';
        phase.done(`${formatCount(linked.files, 'file')}${from} from the cache (${signed ? 'copied, as the signature covers them' : used})`);
        return used;
      },
      () => `${groupDigits(progress.files)} of ${groupDigits(files)} files`,
    );
    return { kind: 'linked', cacheDir: link.cache.dir, method };
  } catch (error) {
    await removeTree(job.staging);
    job.signal?.throwIfAborted();
    job.reporter.warn(`${where}: ${job.key} is unusable (${describeCause(error)}); dropped it, using the stores`);
    await link.cache.trees.discard(job.key).catch(() => undefined);
    return undefined;
  }
}
