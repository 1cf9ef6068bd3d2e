import { promises as fs } from 'node:fs';
import { layersPrehash } from '../../archive/layers.js';
import type { LinkedPart } from '../../archive/parts.js';
import { describeCause } from '../../errors.js';
import { removeTree } from '../../io/fs.js';
import { groupDigits } from '../../report/format.js';
import { acceptSignature } from '../../stores/acceptance.js';
import { linkModeOf, noteLinkMethod, type Restored, type RestoreJob } from './read-job.js';
import { relocateStaged, writeEntries } from './write-entries.js';

/**
 * Link mode: the unpacked copy of this key in the local cache, linked (cloned, copied) into staging.
 * The same steps as an archive's (write-entries.ts), from trees the cache holds. Returns undefined when there is none; a copy that cannot be used is dropped (the stores serve instead).
 */
export async function readUnpacked(job: RestoreJob): Promise<Restored | undefined> {
  const link = linkModeOf(job);
  const copy = link && (await link.cache.trees.find(job.key));
  if (!link || !copy) return undefined;
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
        const linked = await writeEntries(job, parts, { codec: 'none', method: link.method, progress });
        // Under a signature's check, files are copied as they are hashed.
        const used = signed ? 'copy' : (linked.method ?? link.method);
        if (!signed) noteLinkMethod(job, link, used);
        await relocateStaged(job, linked.manifest);
        phase.done({ code: 'TREES_LINKED', files: linked.files, trees: trees.length, method: used, signed: Boolean(signed) });
        return used;
      },
      () => `${groupDigits(progress.files)} of ${groupDigits(files)} files`,
    );
    return { kind: 'linked', cacheDir: link.cache.dir, method };
  } catch (error) {
    await removeTree(job.staging);
    job.signal?.throwIfAborted();
    job.reporter.warn({ code: 'UNPACKED_DROPPED', cache: link.cache.dir, key: job.key, cause: describeCause(error) });
    await link.cache.trees.discard(job.key).catch(() => undefined);
    return undefined;
  }
}
