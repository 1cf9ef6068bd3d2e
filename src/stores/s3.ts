import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { failpoint } from '../io/failpoint.js';
import { resumableDownload } from '../io/retry.js';
import type { Reporter } from '../report/reporter.js';
import { type BuildLeases, isBuildNote } from './lease.js';
import { isNotFound, s3Failure, statusOf } from './s3-errors.js';
import { uploadArchive } from './s3-upload.js';
import { type Condition, S3Leases, type S3Access } from './s3-lease.js';
import type { Platform } from '../python/fingerprint.js';
import { addVariant, chooseVariant, removeVariant, replaceVariant, variantsOf, type RecordChange } from './variants.js';
import {
  MAX_LISTED,
  inReservedFolder,
  isStorageKey,
  MAX_RECORD_BYTES,
  MAX_SIGNATURE_BYTES,
  SMALL_OBJECT_SILENCES,
  readNewest,
  archiveName,
  blobName,
  BLOBS_DIR,
  SHA256_HEX,
  missingArchive,
  missingLayer,
  parseRecord,
  recordFor,
  recordName,
  signatureName,
  type ArchiveRecord,
  type ListOptions,
  type PublishResult,
  type WritableStore,
  type TransferProgress,
} from './store.js';
import type { LocalArchive } from '../archive/save.js';
import type { Layer } from '../archive/layers.js';
import type { TerrariumError } from '../errors.js';

export interface S3Options {
  bucket: string;
  /** Prepended to every object name, as given (`team/envs/` puts archives in that "folder"). */
  prefix: string;
  region: string | undefined;
  endpoint: string | undefined;
  pathStyle: boolean;
  /** Both or neither; without them the SDK's credential chain applies (environment, profiles, instance roles). */
  accessKey: string | undefined;
  secretKey: string | undefined;
  maxRetries: number;
  timeoutSeconds: number;
}

/**
 * An S3 bucket (AWS, MinIO, Ceph, R2, GCS's interoperable endpoint), in the directory store's layout:
 * `PREFIX/KEY.json` (the record, written last, with If-None-Match where the service supports it) and
 * the content-addressed `PREFIX/KEY.<sha256[:16]>.tar.zst` (carrying its sha256 as metadata too).
 * Nothing is given an ACL, so objects stay as private as the bucket.
 */
export class S3Store implements WritableStore {
  readonly description: string;
  readonly remote = true;
  private connection: Promise<{ client: S3Client; sdk: typeof import('@aws-sdk/client-s3') }> | undefined;
  readonly leases: BuildLeases;

  constructor(
    private readonly options: S3Options,
    private readonly reporter: Reporter,
  ) {
    this.description = `s3://${options.bucket}/${options.prefix}`;
    const access: S3Access = {
      prefix: options.prefix,
      description: this.description,
      read: (name, max) => this.readSmall(name, max),
      write: (name, body, condition) => this.write(name, body, condition),
      remove: (name) => this.deleteObject(name),
    };
    this.leases = new S3Leases(access, reporter);
  }

  /** The SDK is loaded on first use: it costs ~150 ms of start-up that key, hash and local hits never need. */
  private connect(): Promise<{ client: S3Client; sdk: typeof import('@aws-sdk/client-s3') }> {
    this.connection ??= import('@aws-sdk/client-s3').then((sdk) => ({ sdk, client: this.makeClient(sdk) }));
    return this.connection;
  }

  private makeClient(sdk: typeof import('@aws-sdk/client-s3')): S3Client {
    const { options } = this;
    const timeout = options.timeoutSeconds * 1000;
    return new sdk.S3Client({
      region: options.region ?? 'us-east-1',
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.pathStyle,
      ...(options.accessKey && options.secretKey ? { credentials: { accessKeyId: options.accessKey, secretAccessKey: options.secretKey } } : {}),
      maxAttempts: options.maxRetries + 1,
      // The default (WHEN_SUPPORTED) stores aws-chunked framing inside streamed uploads on several
      // S3-compatible servers; terrarium verifies its own sha256 end to end instead.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: timeout, requestTimeout: timeout },
    });
  }

  private objectName(name: string): string {
    return this.options.prefix + name;
  }

  async archives(key: string): Promise<ArchiveRecord[]> {
    const document = (await this.readDocument(key))?.document;
    return document ? variantsOf(document) : [];
  }

  async lookup(key: string, local?: Platform): Promise<ArchiveRecord | undefined> {
    return chooseVariant(await this.archives(key), local);
  }

  /** A key's record document and the ETag it was read with (what a change is conditional on). */
  private async readDocument(key: string, signal?: AbortSignal): Promise<{ document: ArchiveRecord; etag: string | undefined } | undefined> {
    const text = await this.readSmall(this.objectName(recordName(key)), MAX_RECORD_BYTES, signal);
    const document = text && parseRecord(text.body, key);
    return document ? { document, etag: text.etag } : undefined;
  }

  /**
   * A small object's text, ETag and time of writing; undefined when it is missing or larger than `max`
   * (then not ours). It must arrive whole within SMALL_OBJECT_SILENCES of the silences allowed.
   */
  private async readSmall(
    name: string,
    max: number,
    signal?: AbortSignal,
  ): Promise<{ body: string; etag: string | undefined; modified: Date | undefined } | undefined> {
    const { client, sdk } = await this.connect();
    const seconds = SMALL_OBJECT_SILENCES * this.options.timeoutSeconds;
    const deadline = AbortSignal.timeout(seconds * 1000);
    const abortSignal = signal ? AbortSignal.any([signal, deadline]) : deadline;
    try {
      const out = await client.send(new sdk.GetObjectCommand({ Bucket: this.options.bucket, Key: name }), { abortSignal });
      if (out.ContentLength === undefined || out.ContentLength > max) {
        (out.Body as Readable | undefined)?.destroy();
        return undefined;
      }
      return { body: await out.Body!.transformToString(), etag: out.ETag, modified: out.LastModified };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      signal?.throwIfAborted();
      throw s3Failure(this.options, 'read', name, deadline.aborted ? new Error(`not received whole within ${seconds} s`) : error);
    }
  }

  async open(record: ArchiveRecord): Promise<Readable> {
    return this.openObject(this.objectName(archiveName(record)), `download of ${record.key}`, missingArchive);
  }

  async openBlob(layer: Layer): Promise<Readable> {
    return this.openObject(this.objectName(blobName(layer.sha256)), `download of layer ${layer.name}`, (where) => missingLayer(layer, where));
  }

  private async openObject(name: string, what: string, missing: (where: string) => TerrariumError): Promise<Readable> {
    const { client, sdk } = await this.connect();
    const get = async (offset: number, etag?: string) => {
      try {
        const out = await client.send(
          new sdk.GetObjectCommand({
            Bucket: this.options.bucket,
            Key: name,
            ...(offset ? { Range: `bytes=${offset}-` } : {}),
            ...(etag ? { IfMatch: etag } : {}),
          }),
        );
        return { body: out.Body as Readable, etag: out.ETag };
      } catch (error) {
        if (!offset && isNotFound(error)) throw missing(`s3://${this.options.bucket}/${name}`);
        throw s3Failure(this.options, 'download', name, error);
      }
    };
    const first = await get(0);
    return resumableDownload(first.body, {
      retries: this.options.maxRetries,
      idleTimeoutMs: this.options.timeoutSeconds * 1000,
      reopen: async (offset) => (await get(offset, first.etag)).body,
      what: `${this.description}: ${what}`,
      onRetry: (message) => this.reporter.warn(message),
      failure: (error) => s3Failure(this.options, 'download', name, error),
    });
  }

  async signature(record: ArchiveRecord): Promise<string | undefined> {
    return (await this.readSmall(this.objectName(signatureName(record)), MAX_SIGNATURE_BYTES))?.body;
  }

  async publish(key: string, archive: LocalArchive, tool: string, progress?: TransferProgress): Promise<PublishResult> {
    // An archive there that serves our platform already: nothing to upload.
    const existing = await this.readDocument(key);
    const before = existing && addVariant(existing.document, recordFor(key, archive, tool));
    if (before && 'present' in before) return { record: before.present, outcome: 'present' };
    const record = await this.upload(key, archive, tool, progress);
    return this.change(key, (current) => addVariant(current, record), record);
  }

  async replace(bad: ArchiveRecord, archive: LocalArchive, tool: string, progress?: TransferProgress): Promise<PublishResult> {
    const record = await this.upload(bad.key, archive, tool, progress);
    return this.change(bad.key, (current) => replaceVariant(current, bad, record), record, bad);
  }

  /**
   * Changes a key's record with a conditional write (If-None-Match for a new one, If-Match on the ETag
   * it was read with), again from a fresh read when another writer got in between. Where the service
   * ignores conditions (s3rver, older MinIO) the last writer wins: reading the record back tells a loser
   * to drop its archive (a loser that reads first leaves an orphan, which ls does not show).
   */
  private async change(
    key: string,
    decide: (current: ArchiveRecord | undefined) => RecordChange,
    ours: ArchiveRecord,
    bad?: ArchiveRecord,
  ): Promise<PublishResult> {
    const name = this.objectName(recordName(key));
    const lost = async (): Promise<PublishResult> => {
      const current = (await this.readDocument(key))?.document;
      const theirs = current && chooseVariant(variantsOf(current), ours.platform);
      if (!theirs || archiveName(theirs) !== archiveName(ours)) await this.deleteBlobs(ours);
      return { record: theirs ?? ours, outcome: 'present' };
    };
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.readDocument(key);
      const decision = decide(current?.document);
      if ('present' in decision) {
        if (archiveName(decision.present) !== archiveName(ours)) await this.deleteBlobs(ours);
        return { record: decision.present, outcome: 'present' };
      }
      if ('unchanged' in decision) return { record: ours, outcome: 'present' };
      if ('remove' in decision) {
        await this.deleteObject(name);
        return { record: ours, outcome: 'published' };
      }
      const condition: Condition = current ? (current.etag ? { IfMatch: current.etag } : {}) : { IfNoneMatch: '*' };
      const written = await this.write(name, `${JSON.stringify(decision.write, null, 2)}\n`, condition).catch(async (error: unknown) => {
        await this.deleteBlobs(ours);
        throw s3Failure(this.options, 'publish', name, error);
      });
      if (written === undefined) continue;
      failpoint('publish-recorded');
      const holds = (document: ArchiveRecord | undefined) => !!document && variantsOf(document).some((archive) => archive.sha256 === ours.sha256);
      if (holds(decision.write) && !holds((await this.readDocument(key))?.document)) return lost();
      if (bad && archiveName(bad) !== archiveName(ours)) await this.deleteBlobs(bad);
      return { record: ours, outcome: bad ? 'replaced' : 'published' };
    }
    return lost();
  }

  /** Uploads the archive (and its signature) under their final names, before any record names them. */
  private async upload(key: string, archive: LocalArchive, tool: string, progress?: TransferProgress): Promise<ArchiveRecord> {
    const record = recordFor(key, archive, tool);
    const { client, sdk } = await this.connect();
    await uploadArchive(
      { client, sdk, bucket: this.options.bucket, name: (n) => this.objectName(n), fail: (what, name, error) => s3Failure(this.options, what, name, error) },
      record,
      archive,
      progress,
    );
    failpoint('publish-uploaded');
    return record;
  }

  /** Writes a small object; resolves with its ETag, or undefined when the condition did not hold (412, or 409 for a race). */
  private async write(name: string, body: string, condition: Condition): Promise<string | undefined> {
    const { client, sdk } = await this.connect();
    try {
      const out = await client.send(
        new sdk.PutObjectCommand({ Bucket: this.options.bucket, Key: name, Body: body, ContentType: 'application/json', ...condition }),
      );
      return out.ETag ?? '';
    } catch (error) {
      const status = statusOf(error);
      if (status === 412 || status === 409) return undefined;
      throw error;
    }
  }

  /** Removes an archive's own objects; a layered archive's blobs may be other records' too, and stay for sweep. */
  private async deleteBlobs(record: ArchiveRecord): Promise<void> {
    if (!record.layers) await this.deleteObject(this.objectName(archiveName(record)));
    await this.deleteObject(this.objectName(signatureName(record)));
  }

  async discardBlob(layer: Layer): Promise<void> {
    await this.deleteObject(this.objectName(blobName(layer.sha256)));
  }

  /** The objects whose names start with `prefix`, a page at a time; the caller may stop early. */
  private async *objects(prefix: string, signal?: AbortSignal): AsyncGenerator<import('@aws-sdk/client-s3')._Object[]> {
    const { client, sdk } = await this.connect();
    let token: string | undefined;
    do {
      let page: import('@aws-sdk/client-s3').ListObjectsV2CommandOutput;
      try {
        const command = new sdk.ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: prefix, ContinuationToken: token });
        page = await client.send(command, { abortSignal: signal });
      } catch (error) {
        throw s3Failure(this.options, 'list', prefix || '/', error);
      }
      yield page.Contents ?? [];
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
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
    for await (const objects of this.objects(prefix)) {
      for (const object of objects) {
        const name = object.Key?.slice(prefix.length) ?? '';
        const age = Date.now() - (object.LastModified?.getTime() ?? Date.now());
        if (!pick(name) || age < graceMs) continue;
        if (!dryRun) await this.deleteObject(object.Key!);
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

  async discard(record: ArchiveRecord): Promise<void> {
    await this.change(record.key, (current) => removeVariant(current, record), record);
    await this.deleteBlobs(record);
  }

  async list(options: ListOptions = {}): Promise<ArchiveRecord[]> {
    const listed: Array<{ key: string; modified: number }> = [];
    for await (const objects of this.objects(this.options.prefix + (options.keyPrefix ?? ''), options.signal)) {
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

  private async deleteObject(name: string): Promise<void> {
    const { client, sdk } = await this.connect();
    try {
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.options.bucket, Key: name }));
    } catch (error) {
      throw s3Failure(this.options, 'delete', name, error);
    }
  }
}
