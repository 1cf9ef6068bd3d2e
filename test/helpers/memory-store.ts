import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { Layer } from '../../src/archive/layers.js';
import { TerrariumError } from '../../src/errors.js';
import type { Platform } from '../../src/python/fingerprint.js';
import type { BuildFailure, BuildLeases, LeaseAttempt } from '../../src/stores/lease.js';
import { parseRecord, recordFor } from '../../src/stores/record.js';
import { discardRecord, publishRecord, type RecordFiles, replaceRecord } from '../../src/stores/record-change.js';
import { type ArchiveRecord, archiveName, blobName, type PublishResult, recordName, signatureName, type WritableStore } from '../../src/stores/store.js';
import { chooseVariant, variantsOf } from '../../src/stores/variants.js';

/** How a MemoryStore misbehaves, set by a test at any time. */
export interface MemoryFaults {
  /** Every read and write fails as an unreachable store's would. */
  down?: boolean;
  /** Writes happen whatever the version read (a service that ignores conditional writes). */
  ignoreConditions?: boolean;
  /** Runs before each record write: another writer may change the record here. */
  beforeWrite?: (store: MemoryStore, key: string) => void;
  /** What taking the build lease finds (default: it is free, and taken); another runner may publish here. */
  take?: (store: MemoryStore, key: string) => LeaseAttempt;
  /** The failure note another runner's build left. */
  failure?: BuildFailure;
}

/**
 * A writable store in memory, for fast tests of what sits above stores: the record algorithm is the
 * real one (record-change.ts), over objects held in a map; versions count writes.
 */
export class MemoryStore implements WritableStore {
  readonly remote = true;
  readonly objects = new Map<string, Buffer>();
  private readonly versions = new Map<string, number>();
  private written = 0;
  readonly faults: MemoryFaults = {};
  /** Leases released so far, with the failure each was released with. */
  readonly released: Array<Pick<BuildFailure, 'code' | 'message'> | undefined> = [];
  readonly leases: BuildLeases = {
    take: async (key): Promise<LeaseAttempt> =>
      this.faults.take?.(this, key) ?? { kind: 'held', lease: { release: async (failure) => void this.released.push(failure) } },
    failure: async (): Promise<BuildFailure | undefined> => this.faults.failure,
  };

  constructor(readonly description = 'memory://store') {}

  /** Puts an object as another writer would (a record's text, a blob's bytes), bumping its version. */
  put(name: string, body: string | Buffer): void {
    this.objects.set(name, Buffer.from(body));
    this.versions.set(name, ++this.written);
  }

  private reachable(): void {
    if (this.faults.down) throw new TerrariumError('STORAGE_UNREACHABLE', `${this.description} is down`, { hint: 'a test fault' });
  }

  private readVersioned(key: string) {
    this.reachable();
    const body = this.objects.get(recordName(key));
    const document = body && parseRecord(body.toString('utf8'), key);
    return document ? { document, version: String(this.versions.get(recordName(key))) } : undefined;
  }

  async archives(key: string): Promise<ArchiveRecord[]> {
    const document = this.readVersioned(key)?.document;
    return document ? variantsOf(document) : [];
  }

  async lookup(key: string, local?: Platform): Promise<ArchiveRecord | undefined> {
    return chooseVariant(await this.archives(key), local);
  }

  private openObject(name: string): Readable {
    this.reachable();
    const body = this.objects.get(name);
    if (!body) throw new TerrariumError('ARCHIVE_CORRUPT', `${this.description}/${name} is missing`, { hint: 'a test fault' });
    return Readable.from([body]);
  }

  async open(record: ArchiveRecord): Promise<Readable> {
    return this.openObject(archiveName(record));
  }

  async openBlob(layer: Layer): Promise<Readable> {
    return this.openObject(blobName(layer.sha256));
  }

  async signature(record: ArchiveRecord): Promise<string | undefined> {
    this.reachable();
    return this.objects.get(signatureName(record))?.toString('utf8');
  }

  private readonly records: RecordFiles = {
    read: async (key) => this.readVersioned(key),
    write: async (key, document, expected) => {
      this.faults.beforeWrite?.(this, key);
      this.reachable();
      const now = this.readVersioned(key);
      if (!this.faults.ignoreConditions && now?.version !== expected?.version) return false;
      this.put(recordName(key), `${JSON.stringify(document)}\n`);
      return true;
    },
    remove: async (key, expected) => {
      this.reachable();
      if (this.readVersioned(key)?.version !== expected.version) return false;
      this.objects.delete(recordName(key));
      return true;
    },
    place: async (key, archive, tool) => {
      this.reachable();
      const record = recordFor(key, archive, tool);
      if (archive.layers) for (const layer of archive.layers) this.put(blobName(layer.sha256), readFileSync(layer.path));
      else this.put(archiveName(record), readFileSync(archive.path));
      if (archive.signature !== undefined) this.put(signatureName(record), archive.signature);
      return record;
    },
    removeOwn: async (record) => {
      if (!record.layers) this.objects.delete(archiveName(record));
      this.objects.delete(signatureName(record));
    },
  };

  publish(key: string, archive: Parameters<WritableStore['publish']>[1], tool: string): Promise<PublishResult> {
    return publishRecord(this.records, key, archive, tool);
  }

  replace(bad: ArchiveRecord, archive: Parameters<WritableStore['replace']>[1], tool: string): Promise<PublishResult> {
    return replaceRecord(this.records, bad, archive, tool);
  }

  discard(record: ArchiveRecord): Promise<void> {
    return discardRecord(this.records, record);
  }

  async discardBlob(layer: Layer): Promise<void> {
    this.objects.delete(blobName(layer.sha256));
  }

  async sweep(referenced: ReadonlySet<string>): Promise<Array<{ sha256: string; size: number }>> {
    const gone = [...this.objects].filter(([name]) => name.startsWith('blobs/sha256/') && !referenced.has(name.slice('blobs/sha256/'.length)));
    for (const [name] of gone) this.objects.delete(name);
    return gone.map(([name, body]) => ({ sha256: name.slice('blobs/sha256/'.length), size: body.length }));
  }

  async sweepNotes(): Promise<string[]> {
    return [];
  }

  async list(): Promise<ArchiveRecord[]> {
    this.reachable();
    const keys = [...this.objects.keys()].filter((name) => name.endsWith('.json')).map((name) => name.slice(0, -'.json'.length));
    return keys.flatMap((key) => {
      const document = this.readVersioned(key)?.document;
      return document ? variantsOf(document) : [];
    });
  }
}
