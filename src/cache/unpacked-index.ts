import type { Entry } from '../archive/entry.js';
import type { Layer } from '../archive/layers.js';
import { type Manifest, parseManifest } from '../archive/manifest.js';
import { recordedLayers } from '../stores/record.js';
import { SHA256_HEX } from '../stores/store.js';

/** 6: a tree's index keeps its manifest's text and its files' inodes (5: trees shared by digest; 4: one tree per key). */
export const UNPACKED_FORMAT = 6;

/**
 * One unpacked tree, as archived (not relocated: it still names the build path), named by the sha256 of
 * what it was unpacked from: a format 1 archive, or one layer of a layered one, which every key that
 * has the layer shares.
 */
export interface TreeIndex {
  format: typeof UNPACKED_FORMAT;
  sha256: string;
  /** Every entry, in order: what it takes to link the tree elsewhere. */
  entries: Entry[];
  bytes: number;
  /** The archive's manifest's text, in the tree that comes first (an archive's, or its environment layer's): what a tree digest covers. */
  manifestText?: string | undefined;
}

/** A tree's index as read back: its manifest parsed (and checked). */
export interface ReadTreeIndex extends TreeIndex {
  manifest?: Manifest | undefined;
}

/** A key's unpacked copy: the archive it was unpacked from, whose trees make it. */
export interface UnpackedIndex {
  format: typeof UNPACKED_FORMAT;
  key: string;
  /** The archive's sha256 (a layered one's: its layers document's), and its minisign signature if it had one. */
  sha256: string;
  signature?: string | undefined;
  /** Bytes of its files. */
  bytes: number;
  /** A layered archive's layers as recorded, one tree each; a format 1 archive is one tree. */
  layers?: Layer[] | undefined;
}

export interface UnpackedTree {
  dir: string;
  index: ReadTreeIndex;
}

export interface UnpackedCopy {
  index: UnpackedIndex;
  /** In order, the first with the manifest. */
  trees: UnpackedTree[];
}

/** The trees an archive unpacks to, by digest, in order: one per layer of a layered archive; a format 1 archive is one, named by its own sha256. */
export function treeDigests(archive: { sha256: string; layers?: readonly Layer[] | undefined }): string[] {
  return archive.layers?.map((layer) => layer.sha256) ?? [archive.sha256];
}

/** The trees a key's copy is made of, by digest, with their bytes. */
export function treesOf(index: UnpackedIndex): Array<{ sha256: string; bytes: number }> {
  return treeDigests(index).map((sha256, i) => ({ sha256, bytes: index.layers?.[i]?.unpackedSize ?? index.bytes }));
}

/**
 * The cache is written by other programs too (a CI cache restored from elsewhere): an index must have
 * the shape terrarium writes, and a layered copy's layers must be held to its sha256 (so a signature of
 * it covers them). Undefined for anything else.
 */
export function checkIndex(data: unknown, key: string): UnpackedIndex | undefined {
  const index = data as Partial<UnpackedIndex> | null;
  if (typeof index !== 'object' || index === null || index.format !== UNPACKED_FORMAT || index.key !== key) return undefined;
  if (typeof index.sha256 !== 'string' || !SHA256_HEX.test(index.sha256) || !isCount(index.bytes)) return undefined;
  if (index.signature !== undefined && typeof index.signature !== 'string') return undefined;
  const layers = index.layers === undefined ? undefined : recordedLayers(index.layers, index.sha256);
  if (index.layers !== undefined && !layers) return undefined;
  // A tree named twice is no archive terrarium unpacks (it would hold its paths twice), and would be read twice.
  if (layers && new Set(layers.map((layer) => layer.sha256)).size !== layers.length) return undefined;
  return { format: UNPACKED_FORMAT, key, sha256: index.sha256, signature: index.signature, bytes: index.bytes, layers };
}

/** A tree's index: the same manifest check as an archive's, and each entry of the shape terrarium writes (its path is checked by the entry guard when it is linked). */
export function checkTreeIndex(data: unknown, sha256: string): ReadTreeIndex | undefined {
  const index = data as Partial<TreeIndex> | null;
  if (typeof index !== 'object' || index === null || index.format !== UNPACKED_FORMAT || index.sha256 !== sha256 || !isCount(index.bytes)) return undefined;
  if (!Array.isArray(index.entries) || !index.entries.every(isEntry)) return undefined;
  const { manifestText } = index;
  try {
    if (manifestText !== undefined && typeof manifestText !== 'string') return undefined;
    const manifest = manifestText === undefined ? undefined : parseManifest(manifestText);
    return { format: UNPACKED_FORMAT, sha256, entries: index.entries, bytes: index.bytes, manifestText, manifest };
  } catch {
    return undefined;
  }
}

const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

function isEntry(value: unknown): value is Entry {
  const e = value as Record<string, unknown> | null;
  if (typeof e !== 'object' || e === null || typeof e.path !== 'string' || !isCount(e.mode) || !isCount(e.size) || !Number.isFinite(e.mtime)) return false;
  if (e.type === 'directory') return true;
  if (e.type === 'symlink') return typeof e.linkname === 'string';
  return (
    e.type === 'file' && (e.sha256 === undefined || (typeof e.sha256 === 'string' && SHA256_HEX.test(e.sha256))) && (e.ino === undefined || isCount(e.ino))
  );
}
