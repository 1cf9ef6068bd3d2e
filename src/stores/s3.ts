import type { Readable } from 'node:stream';
import type { Layer } from '../archive/layers.js';
import type { Reporter } from '../report/reporter.js';
import { INDEX_DIR, indexName, MAX_INDEX_BYTES } from './layer-index.js';
import { type BuildLeases, isBuildNote } from './lease.js';
import { parseRecord, recordFor } from './record.js';
import type { RecordFiles, VersionedRecord } from './record-change.js';
import { RecordStore } from './record-store.js';
import { S3Bucket, type S3Options } from './s3-bucket.js';
import { s3Failure } from './s3-errors.js';
import { type Condition, S3Leases } from './s3-lease.js';
import { uploadArchive } from './s3-upload.js';
import {
  type ArchiveRecord,
  archiveName,
  BLOBS_DIR,
  blobName,
  inReservedFolder,
  isStorageKey,
  type ListOptions,
  MAX_LISTED,
  MAX_RECORD_BYTES,
  MAX_SIGNATURE_BYTES,
  missingArchive,
  missingLayer,
  type RequestSettings,
  readNewest,
  recordName,
  SHA256_HEX,
  signatureName,
  type WritableIndexFiles,
  type WritableStore,
} from './store.js';
import { variantsOf } from './variants.js';

/**
 * An S3 bucket (AWS, MinIO, Ceph, R2, GCS's interoperable endpoint), in the directory store's layout:
 * `PREFIX/KEY.json` (the record, written last, with If-None-Match where the service supports it) and
 * the content-addressed `PREFIX/KEY.<sha256[:16]>.tar.zst` (carrying its sha256 as metadata too).
 * Nothing is given an ACL, so objects stay as private as the bucket.
 */
export class S3Store extends RecordStore implements WritableStore {
  readonly description: string;
  readonly remote = true;
  readonly leases: BuildLeases;
  private readonly bucket: S3Bucket;

  constructor(
    private readonly options: S3Options,
    requests: RequestSettings,
    reporter: Reporter,
  ) {
    super();
    this.description = `s3://${options.bucket}/${options.prefix}`;
    this.bucket = new S3Bucket(options, requests, this.description, reporter);
    this.leases = new S3Leases(this.bucket, reporter);
  }

  private objectName(name: string): string {
    return this.options.prefix + name;
  }

  /** A key's record document and the ETag it was read with (what a change is conditional on). */
  private async readDocument(key: string, signal?: AbortSignal): Promise<VersionedRecord | undefined> {
    const text = await this.bucket.read(this.objectName(recordName(key)), MAX_RECORD_BYTES, signal);
    const document = text && parseRecord(text.body, key);
    return document ? { document, version: text.etag } : undefined;
  }

  async open(record: ArchiveRecord): Promise<Readable> {
    return this.bucket.openObject(this.objectName(archiveName(record)), `download of ${record.key}`, missingArchive);
  }

  async openBlob(layer: Layer): Promise<Readable> {
    return this.bucket.openObject(this.objectName(blobName(layer.sha256)), `download of layer ${layer.name}`, (where) => missingLayer(layer, where));
  }

  async signature(record: ArchiveRecord): Promise<string | undefined> {
    return (await this.bucket.read(this.objectName(signatureName(record)), MAX_SIGNATURE_BYTES))?.body;
  }

  /**
   * Records change by conditional writes: If-None-Match for a new one, If-Match on the ETag it was read
   * with. A removal is unconditional (conditional deletes are not common to S3 services).
   */
  protected readonly records: RecordFiles = {
    read: (key) => this.readDocument(key),
    write: async (key, document, expected) => {
      const name = this.objectName(recordName(key));
      const condition: Condition = expected ? (expected.version ? { IfMatch: expected.version } : {}) : { IfNoneMatch: '*' };
      const written = await this.bucket.write(name, `${JSON.stringify(document, null, 2)}\n`, condition).catch((error: unknown) => {
        throw s3Failure(this.options, 'publish', name, error);
      });
      return written !== undefined;
    },
    remove: async (key) => {
      await this.bucket.remove(this.objectName(recordName(key)));
      return true;
    },
    place: async (key, archive, tool, progress) => {
      const record = recordFor(key, archive, tool);
      await uploadArchive(await this.bucket.uploadTarget(), record, archive, progress);
      return record;
    },
    // A layered archive's blobs may be other records' too, and stay for sweep.
    removeOwn: async (record) => {
      if (!record.layers) await this.bucket.remove(this.objectName(archiveName(record)));
      await this.bucket.remove(this.objectName(signatureName(record)));
    },
  };

  readonly index: WritableIndexFiles = {
    read: async (id, signal) => (await this.bucket.read(this.objectName(indexName(id)), MAX_INDEX_BYTES, signal))?.body,
    write: async (id, text) => {
      if (text === undefined) await this.bucket.remove(this.objectName(indexName(id)));
      else await this.bucket.write(this.objectName(indexName(id)), text, {});
    },
    ids: async () => {
      const prefix = this.objectName(`${INDEX_DIR}/`);
      const ids: string[] = [];
      for await (const objects of this.bucket.objects(prefix)) ids.push(...objects.map((o) => o.Key!.slice(prefix.length)).filter((id) => SHA256_HEX.test(id)));
      return ids;
    },
  };

  async discardBlob(layer: Layer): Promise<void> {
    await this.bucket.remove(this.objectName(blobName(layer.sha256)));
  }

  /**
   * Removes the objects under `prefix` whose names (after it) `pick` takes and that are untouched for
   * `graceMs`, or with `dryRun` only says which; returns them.
   */
  private async removeUnused(
    prefix: string,
    pick: (name: string) => boolean,
    graceMs: number,
    dryRun: boolean,
  ): Promise<Array<{ name: string; size: number }>> {
    const removed: Array<{ name: string; size: number }> = [];
    for await (const objects of this.bucket.objects(prefix)) {
      for (const object of objects) {
        const name = object.Key?.slice(prefix.length) ?? '';
        const age = Date.now() - (object.LastModified?.getTime() ?? Date.now());
        if (!pick(name) || age < graceMs) continue;
        if (!dryRun) await this.bucket.remove(object.Key!);
        removed.push({ name, size: object.Size ?? 0 });
      }
    }
    return removed;
  }

  async sweep(referenced: ReadonlySet<string>, graceMs: number, dryRun = false): Promise<Array<{ sha256: string; size: number }>> {
    // The grace runs from the last publication that used the blob (uploadArchive copies it onto itself).
    const unnamed = (name: string) => SHA256_HEX.test(name) && !referenced.has(name);
    const removed = await this.removeUnused(this.objectName(`${BLOBS_DIR}/`), unnamed, graceMs, dryRun);
    return removed.map(({ name, size }) => ({ sha256: name, size }));
  }

  async sweepNotes(graceMs: number, dryRun = false): Promise<string[]> {
    const note = (name: string) => isBuildNote(name) && !inReservedFolder(name);
    return (await this.removeUnused(this.options.prefix, note, graceMs, dryRun)).map(({ name }) => name);
  }

  async list(options: ListOptions = {}): Promise<ArchiveRecord[]> {
    const listed: Array<{ key: string; modified: number }> = [];
    for await (const objects of this.bucket.objects(this.options.prefix + (options.keyPrefix ?? ''), options.signal)) {
      for (const object of objects) {
        const name = object.Key?.slice(this.options.prefix.length) ?? '';
        const key = name.slice(0, -'.json'.length);
        // Only names terrarium could have published: a planted one (escape sequences) would reach `ls`'s output.
        if (name.endsWith('.json') && !inReservedFolder(name) && isStorageKey(key)) listed.push({ key, modified: object.LastModified?.getTime() ?? 0 });
      }
      if (options.newest && listed.length >= MAX_LISTED) break;
    }
    const documents = await readNewest(listed, options.newest ?? listed.length, async (key) => (await this.readDocument(key, options.signal))?.document);
    return documents.flatMap(variantsOf);
  }
}
