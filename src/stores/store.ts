import type { Readable } from 'node:stream';
import { CODECS, type Codec } from '../archive/codecs.js';

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

export interface PublishResult {
  record: ArchiveRecord;
  /** False when another publisher got there first (its archive stays; ours is dropped). */
  published: boolean;
}

/** The one interface install logic sees; every kind of storage hides behind it. */
export interface Store {
  /** For messages: where archives are, never with credentials. */
  readonly description: string;
  lookup(key: string): Promise<ArchiveRecord | undefined>;
  /** The archive's bytes, as stored (still compressed). */
  open(record: ArchiveRecord): Promise<Readable>;
  publish(key: string, codec: Codec, archive: Readable, tool: string): Promise<PublishResult>;
  /** Removes an archive found damaged, if the store still holds exactly that one. */
  discard(record: ArchiveRecord): Promise<void>;
}

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
