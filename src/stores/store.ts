import type { Readable } from 'node:stream';
import { CODECS, CODEC_EXTENSION, type Codec } from '../archive/codec-names.js';

export const RECORD_FORMAT = 1;

/** What a store keeps beside each archive: enough to verify it, and to list it without opening it. */
export interface ArchiveRecord {
  format: typeof RECORD_FORMAT;
  key: string;
  sha256: string;
  size: number;
  codec: Codec;
  created: string;
  tool: string;
}

/** An archive packed (or downloaded and verified) into a local file: its checksum known before publishing. */
export interface LocalArchive {
  path: string;
  sha256: string;
  size: number;
  codec: Codec;
}

export interface PublishResult {
  record: ArchiveRecord;
  /** False when another publisher got there first (its archive stays; ours is dropped). */
  published: boolean;
}

/** Bytes sent so far, updated while an upload runs (for a progress line). */
export interface TransferProgress {
  bytes: number;
}

/** The one interface install logic sees; every kind of storage hides behind it. */
export interface Store {
  /** For messages: where archives are, never with credentials. */
  readonly description: string;
  /** Archives from here cost a download: worth keeping in the local cache. */
  readonly remote: boolean;
  /** False for stores terrarium only reads from. */
  readonly writable: boolean;
  lookup(key: string): Promise<ArchiveRecord | undefined>;
  /** The archive's bytes, as stored (still compressed). */
  open(record: ArchiveRecord): Promise<Readable>;
  /** Stores a packed archive under `key` unless one is there already (the first publisher wins). */
  publish(key: string, archive: LocalArchive, tool: string, progress?: TransferProgress): Promise<PublishResult>;
  /** Removes an archive (found damaged, or pruned), if the store still holds exactly that one. */
  discard(record: ArchiveRecord): Promise<void>;
  /** Every archive's record, for `ls` and `prune`. */
  list(): Promise<ArchiveRecord[]>;
}

/** Object names shared by every store layout: `KEY.json` and the content-addressed `KEY.<sha256[:16]>.tar.zst`. */
export const recordName = (key: string) => `${key}.json`;
export const archiveName = (record: Pick<ArchiveRecord, 'key' | 'sha256' | 'codec'>) => `${record.key}.${record.sha256.slice(0, 16)}${CODEC_EXTENSION[record.codec]}`;

/** Records come from shared storage: anything malformed is treated as absent, never trusted. */
export function parseRecord(json: string, key: string): ArchiveRecord | undefined {
  try {
    const r = JSON.parse(json) as Partial<ArchiveRecord>;
    if (r.format !== RECORD_FORMAT || r.key !== key) return undefined;
    if (typeof r.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(r.sha256)) return undefined;
    if (typeof r.size !== 'number' || !CODECS.includes(r.codec as Codec)) return undefined;
    return r as ArchiveRecord;
  } catch {
    return undefined;
  }
}
