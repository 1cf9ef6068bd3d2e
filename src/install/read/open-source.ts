import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Part } from '../../archive/parts.js';
import type { CacheStore } from '../../cache/archives.js';
import { treeDigests, type UnpackedTree } from '../../cache/unpacked-index.js';
import { describeCause } from '../../errors.js';
import { removeTree } from '../../io/fs.js';
import type { PendingSignature } from '../../sign/archive-signature.js';
import { acceptSignature } from '../../stores/acceptance.js';
import type { ArchiveRecord, Store } from '../../stores/store.js';
import { type LinkMode, linkModeOf, type RestoreJob } from './read-job.js';
import { type ArchiveSource, archiveSource, layeredSource } from './sources.js';

/** An archive opened for reading: where each part comes from, and what was checked before a byte of it. */
export interface OpenedSource {
  /** The signature as stored (kept with what the cache keeps, for a later run that trusts keys). */
  signatureText: string | undefined;
  /** Its file half, checked once every part is read; undefined without trusted keys. */
  signature: PendingSignature | undefined;
  /** The cache's archives, when this store's downloads are worth keeping. */
  cache: CacheStore | undefined;
  link: LinkMode | undefined;
  /** Layers whose unpacked tree the cache has (for other keys): linked, not read. */
  linked: Map<string, UnpackedTree>;
  /** The digest of each part's tree, and the folders reserved in the cache to unpack the others into. */
  trees: string[];
  reserved: Map<number, string>;
  source: ArchiveSource;
  parts: [Part, ...Part[]];
  /** Removes what was reserved and not committed, and closes the source. */
  close(): Promise<void>;
}

/**
 * Step one of reading an environment: everything a signature says is checked before a byte is fetched
 * (its file half at the end); each part is read from the store, the cache's copy of it, or linked from
 * a tree the cache unpacked already; with link mode, the others get a folder in the cache to be unpacked
 * into as well. `useCache` false reads everything from the store (the cache's copy was found damaged).
 */
export async function openSource(job: RestoreJob, store: Store, record: ArchiveRecord, useCache: boolean): Promise<OpenedSource> {
  const signatureText = job.trusted.length || job.local ? await store.signature(record) : undefined;
  const signature = acceptSignature(signatureText, record, job.trusted);
  await fs.mkdir(job.staging, { mode: 0o755 });
  const cache = job.local?.caches(store) ? job.local.archives : undefined;
  const link = linkModeOf(job);
  const linked = new Map<string, UnpackedTree>();
  for (const layer of link && useCache ? (record.layers ?? []) : []) {
    // With trusted keys, only a tree the signature gives a digest can be checked, and so linked.
    if (job.trusted.length && layer.tree === undefined) continue;
    const tree = await link!.cache.trees.findTree(layer.sha256);
    if (tree) linked.set(layer.sha256, tree);
  }
  const options = { cache, target: job.target, signature, signal: job.signal };
  const source = record.layers
    ? layeredSource(store, { ...record, layers: record.layers }, { ...options, useCache, linked: new Set(linked.keys()) })
    : archiveSource(store, record, options);
  const trees = treeDigests(record);
  const reserved = new Map<number, string>();
  const close = async () => {
    for (const dir of reserved.values()) await removeTree(dir);
    await source.dispose();
  };
  try {
    if (link && (await canKeepUnpacked(job, link)))
      for (const [index, sha256] of trees.entries()) if (!linked.has(sha256)) reserved.set(index, await link.cache.trees.reserve(sha256));
  } catch (error) {
    await close();
    throw error;
  }
  const parts = trees.map((sha256, index) => {
    const tree = linked.get(sha256);
    return tree
      ? link!.cache.trees.part(tree, job.trusted.length ? record.layers![index]!.tree : undefined)
      : { ...source.parts[index]!, unpackInto: reserved.get(index) };
  }) as [Part, ...Part[]];
  return { signatureText, signature, cache, link, linked, trees, reserved, source, parts, close };
}

/**
 * Whether unpacked copies are kept in the cache for this install: not when a copy would not pay. On
 * another file system than the target nothing can be linked or cloned, and copying every file twice
 * makes this install slower (unless --link-mode copy asks for exactly that).
 */
async function canKeepUnpacked(job: RestoreJob, link: LinkMode): Promise<boolean> {
  try {
    const [cache, here] = await Promise.all([link.cache.trees.device(), fs.stat(path.dirname(job.target))]);
    if (cache === here.dev || link.method === 'copy') return true;
    job.reporter.detail({ code: 'UNPACKED_OTHER_FILESYSTEM', cache: link.cache.dir, target: job.target });
  } catch (error) {
    job.reporter.warn({ code: 'UNPACKED_NOT_KEPT', key: undefined, cause: describeCause(error) });
  }
  return false;
}
