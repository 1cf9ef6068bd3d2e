import type { Readable } from 'node:stream';
import { CODEC_EXTENSION, type Codec } from '../archive/codec-names.js';
import type { Layer } from '../archive/layers.js';
import type { LocalArchive } from '../archive/save.js';
import { TerrariumError } from '../errors.js';
import type { Platform } from '../python/fingerprint.js';
import type { BundleFacts } from '../python/portable.js';
import type { BuildLeases } from './lease.js';

/** 1: one archive file; 2: layers (a document is format 2 when its first archive is). */
export const RECORD_FORMATS = [1, 2] as const;
export type RecordFormat = (typeof RECORD_FORMATS)[number];

/** What a store keeps beside each archive: enough to verify it, and to list it without opening it. */
export interface ArchiveRecord {
  format: RecordFormat;
  key: string;
  sha256: string;
  size: number;
  codec: Codec;
  created: string;
  tool: string;
  /** Bytes of the files once unpacked, and entries of the tar: a restore stops beyond either (absent before 0.2). */
  unpackedSize?: number;
  entries?: number;
  /** What it was built from, as `diff` and explained misses show it (absent before 0.2, or when too long to keep here). */
  requirements?: string[];
  /** What the archive runs on (absent before 0.2: then its manifest decides, on restore). */
  platform?: Platform;
  /** A portable archive: the interpreter it carries and what that needs of a machine (its manifest says the same, signed). */
  portable?: BundleFacts;
  /** Format 2: the layers, each a blob of its own; `sha256` is then their layers document's (layers.ts), `size` and the counts their sums. */
  layers?: Layer[];
  /** In a stored document only: the key's archives for other platforms (variants.ts flattens them). */
  variants?: VariantFields[];
}

/** A variant as a document holds it: an archive's own fields. */
export type VariantFields = Omit<ArchiveRecord, 'format' | 'key' | 'variants' | 'requirements'>;

export interface PublishResult {
  record: ArchiveRecord;
  /**
   * published: ours is there now; present: another publisher's was there first (it stays, ours is
   * dropped); replaced: ours took the place of a record whose archive failed verification.
   */
  outcome: 'published' | 'present' | 'replaced';
}

export { SHA256_HEX } from '../archive/checksum.js';

/** A small object (record, signature) must arrive whole within this many of the silences allowed (--s3-timeout): a store that trickles it is passed over. */
export const SMALL_OBJECT_SILENCES = 4;

/** A record, a signature: small by definition; larger ones are not read (a store may be hostile). A record of MAX_LAYERS layers takes about 200 KiB. */
export const MAX_RECORD_BYTES = 512 << 10;
export const MAX_LAYERS = 1000;
/** Archives of one key, one per platform (variants.ts). */
export const MAX_VARIANTS = 16;
export const MAX_SIGNATURE_BYTES = 4 << 10;

/** How a remote store (S3, HTTP) is asked: retries of a failed request with backoff, and the silence allowed on a connection. */
export interface RequestSettings {
  retries: number;
  timeoutSeconds: number;
}

/** Bytes sent so far, updated while an upload runs (for a progress line). */
export interface TransferProgress {
  bytes: number;
}

/** How a store keeps the entries of its provenance index (layer-index.ts). */
export interface IndexFiles {
  /** The entry as stored (at most MAX_INDEX_BYTES), or undefined when there is none. */
  read(id: string, signal?: AbortSignal): Promise<string | undefined>;
}

export interface WritableIndexFiles extends IndexFiles {
  /** Replaces an entry; undefined removes it. */
  write(id: string, text: string | undefined): Promise<void>;
  /** Every entry's id (for prune). */
  ids(): Promise<string[]>;
}

/** What every store offers, read-only ones (HTTP) included: install logic sees stores only through this and WritableStore. */
export interface Store {
  /** For messages: where archives are, never with credentials. */
  readonly description: string;
  /** Archives from here cost a download: worth keeping in the local cache. */
  readonly remote: boolean;
  /** Every archive of `key`, one per platform, the first published first; empty when there is none. */
  archives(key: string): Promise<ArchiveRecord[]>;
  /** The archive of `key` that runs on `local` (chooseVariant over `archives`); without `local`, its first. */
  lookup(key: string, local?: Platform): Promise<ArchiveRecord | undefined>;
  /** The archive's bytes, as stored (still compressed); format 1 only. */
  open(record: ArchiveRecord): Promise<Readable>;
  /** A layer's bytes, as stored (still compressed). */
  openBlob(layer: Layer): Promise<Readable>;
  /** The archive's minisign signature as stored beside it, or undefined when it has none. */
  signature(record: ArchiveRecord): Promise<string | undefined>;
  /** The provenance index of its layers (layer-index.ts); absent where the store cannot keep one (a registry). */
  readonly index?: IndexFiles | undefined;
}

/** A store terrarium writes to (storage directory, S3, the cache): it can also be published to, pruned and listed. */
export interface WritableStore extends Store {
  /** Stores a packed archive under `key` unless one is there already (the first publisher wins). */
  publish(key: string, archive: LocalArchive, tool: string, progress?: TransferProgress): Promise<PublishResult>;
  /**
   * Puts a packed archive in the place of `bad` (a record whose archive failed verification), only if
   * `bad` is still the record there; otherwise leaves whatever is there ('present').
   */
  replace(bad: ArchiveRecord, archive: LocalArchive, tool: string, progress?: TransferProgress): Promise<PublishResult>;
  /** Removes an archive (found damaged, or pruned) from its key's record, and the record with its last archive; its layers stay for `sweep`. */
  discard(record: ArchiveRecord): Promise<void>;
  /** Removes a layer's blob, once proven damaged (dropDamagedBlob): it is content-addressed, so it is damaged for every record naming it. */
  discardBlob(layer: Layer): Promise<void>;
  /**
   * Removes the blobs no record in `referenced` names and that are older than `graceMs` (a publisher
   * writes its blobs before its record); returns what it removed, or would with `dryRun`.
   */
  sweep(referenced: ReadonlySet<string>, graceMs: number, dryRun?: boolean): Promise<Array<{ sha256: string; size: number }>>;
  /**
   * Removes the build leases and failure notes untouched for `graceMs` (a live builder renews its lease
   * every few seconds; a note is read for a minute); returns their names, or would with `dryRun`.
   */
  sweepNotes(graceMs: number, dryRun?: boolean): Promise<string[]>;
  /** Every archive's record (for `ls` and `prune`), or the newest few whose key starts a certain way. */
  list(options?: ListOptions): Promise<ArchiveRecord[]>;
  /** Where runners that miss the same key agree on which of them builds it. */
  readonly leases: BuildLeases;
  readonly index?: WritableIndexFiles | undefined;
}

export interface ListOptions {
  keyPrefix?: string;
  /** Read only the records written last, this many at most, after listing at most MAX_LISTED names. */
  newest?: number;
  signal?: AbortSignal;
}

/** How many names a bounded listing looks at: ten pages of an S3 listing. */
export const MAX_LISTED = 10_000;

/** The newest `count` of listed records, read a few at a time. */
export async function readNewest(
  listed: Array<{ key: string; modified: number }>,
  count: number,
  read: (key: string) => Promise<ArchiveRecord | undefined>,
): Promise<ArchiveRecord[]> {
  const chosen = [...listed].sort((a, b) => b.modified - a.modified).slice(0, count);
  const records: Array<ArchiveRecord | undefined> = [];
  for (let i = 0; i < chosen.length; i += 8) records.push(...(await Promise.all(chosen.slice(i, i + 8).map((entry) => read(entry.key)))));
  return records.filter((record) => record !== undefined);
}

export const isWritable = (store: Store): store is WritableStore => 'publish' in store;

/**
 * Object names shared by every store layout: `KEY.json` and the content-addressed `KEY.<sha256[:16]>.tar.zst`;
 * a layered archive is no file of its own (its name only names its signature), its layers are `blobs/sha256/HEX`.
 */
export const recordName = (key: string) => `${key}.json`;
export const archiveName = (record: Pick<ArchiveRecord, 'key' | 'sha256' | 'codec' | 'layers'>) =>
  `${record.key}.${record.sha256.slice(0, 16)}${record.layers ? '.layers' : CODEC_EXTENSION[record.codec]}`;
export const BLOBS_DIR = 'blobs/sha256';
export const blobName = (sha256: string) => `${BLOBS_DIR}/${sha256}`;

/**
 * A key with `/` keeps its record in a folder (`team/KEY.json`); these top folders are terrarium's own,
 * in a store (the blobs) and in the cache (cache/layout.ts), so no key's first folder may have their
 * names, and listings do not look inside them.
 */
const RESERVED_FOLDERS: readonly string[] = ['blobs', 'trees', 'unpacked'];

/** Keys become file names and object keys: a portable alphabet, and no way out of a store. */
export function isStorageKey(key: string): boolean {
  return /^[A-Za-z0-9._+=@,%/-]+$/.test(key) && key.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

/** Whether a store-relative name (a key, an object's name) lies inside one of terrarium's own top folders. */
export function inReservedFolder(name: string): boolean {
  const slash = name.indexOf('/');
  return slash > 0 && RESERVED_FOLDERS.includes(name.slice(0, slash).toLowerCase());
}

/** minisign's own convention: the signature of FILE is FILE.minisig. */
export const signatureName = (record: Pick<ArchiveRecord, 'key' | 'sha256' | 'codec' | 'layers'>) => `${archiveName(record)}.minisig`;

/** A record naming a layer that is not there: damaged storage, healed like a corrupt archive. */
export function missingLayer(layer: Layer, where: string): TerrariumError {
  return new TerrariumError('ARCHIVE_CORRUPT', `layer ${layer.name} (${layer.sha256.slice(0, 16)}) its record names is missing (${where})`, {
    hint: 'the store lost the layer; it is rebuilt and republished without --require-download',
  });
}

/** A record naming an archive that is not there: damaged storage, healed like a corrupt archive. */
export function missingArchive(where: string): TerrariumError {
  return new TerrariumError('ARCHIVE_CORRUPT', `the archive its record names is missing (${where})`, {
    hint: 'the store lost the archive; it is rebuilt and republished without --require-download',
  });
}
