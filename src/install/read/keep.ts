import type { ExtractResult } from '../../archive/extract.js';
import type { LocalCache } from '../../cache/local-cache.js';
import { UNPACKED_FORMAT, type UnpackedIndex } from '../../cache/unpacked-index.js';
import { describeCause } from '../../errors.js';
import { shownLine } from '../../key/line-diff.js';
import { platformOf } from '../../python/fingerprint.js';
import type { ArchiveRecord } from '../../stores/store.js';
import type { OpenedSource } from './open-source.js';
import { noteLinkMethod, type RestoreJob } from './read-job.js';

/**
 * Step four of reading an environment: what the cache keeps of it. The downloaded archive or layers,
 * once verified (the next install of this key downloads nothing); in link mode, the trees unpacked
 * beside staging and the key's index naming them with those linked; then the cache back under its cap.
 * A failure here is a warning: the environment in staging is complete.
 */
export async function keepRead(job: RestoreJob, record: ArchiveRecord, opened: OpenedSource, written: ExtractResult): Promise<void> {
  const { cache, link, source, reserved, linked, trees } = opened;
  const { manifest } = written;
  if (cache) {
    const archive = {
      sha256: record.sha256,
      size: record.size,
      codec: record.codec,
      unpackedSize: written.bytes,
      entries: written.entryCount,
      signature: opened.signatureText,
      requirements: manifest.requirements.map(shownLine),
      platform: platformOf(manifest.python),
    };
    await source.addToCache(cache, archive, record.tool).then(
      (added) => added && job.reporter.detail({ code: 'CACHE_KEPT', key: record.key, cache: cache.description }),
      (error: unknown) => job.reporter.warn({ code: 'CACHE_NOT_KEPT', key: record.key, cause: describeCause(error) }),
    );
  }
  // The key's copy is kept when each of its trees is: unpacked here, or linked from the cache.
  if (link && reserved.size + linked.size === trees.length) {
    noteLinkMethod(job, link, written.method ?? link.method);
    const index: UnpackedIndex = {
      format: UNPACKED_FORMAT,
      key: record.key,
      sha256: record.sha256,
      signature: opened.signatureText,
      bytes: written.bytes,
      layers: record.layers,
    };
    const whole = reserved.size === trees.length;
    await commitUnpacked(link.cache, index, trees, reserved, written).then(
      // Said once, on the install that makes it: the copy takes disk, and some users will want none.
      () => whole && job.reporter.info({ code: 'UNPACKED_KEPT', key: record.key, bytes: written.bytes, cache: link.cache.dir }),
      (error: unknown) => job.reporter.warn({ code: 'UNPACKED_NOT_KEPT', key: record.key, cause: describeCause(error) }),
    );
  }
  if (cache || reserved.size) {
    await job.local!.evict(record.key).then(
      (evicted) => evicted.length && job.reporter.detail({ code: 'CACHE_EVICTED', keys: evicted }),
      (error: unknown) => job.reporter.warn({ code: 'CACHE_EVICTION_FAILED', cause: describeCause(error) }),
    );
  }
}

/** Commits the trees this restore unpacked (the first with the manifest), then the key's index that names them with those it linked. */
async function commitUnpacked(
  cache: LocalCache,
  index: UnpackedIndex,
  trees: readonly string[],
  reserved: ReadonlyMap<number, string>,
  written: ExtractResult,
): Promise<void> {
  for (const [part, dir] of reserved) {
    const entries = written.unpacked[part]!;
    const bytes = entries.reduce((sum, entry) => sum + (entry.type === 'file' ? entry.size : 0), 0);
    await cache.trees.commitTree(dir, {
      format: UNPACKED_FORMAT,
      sha256: trees[part]!,
      entries,
      bytes,
      manifestText: part === 0 ? written.manifestText : undefined,
    });
  }
  await cache.trees.commit(index);
}
