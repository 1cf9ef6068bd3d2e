import type { Readable } from 'node:stream';
import type { _Object, S3Client } from '@aws-sdk/client-s3';
import type { TerrariumError } from '../errors.js';
import { resumableDownload } from '../io/retry.js';
import type { Reporter } from '../report/reporter.js';
import { isNotFound, s3Failure, statusOf } from './s3-errors.js';
import type { Condition, S3Access } from './s3-lease.js';
import type { UploadTarget } from './s3-upload.js';
import { type RequestSettings, SMALL_OBJECT_SILENCES } from './store.js';

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
}

/**
 * The objects of one bucket under one prefix, as the S3 store and its leases use them: small objects
 * read whole within a deadline, written on a condition, large ones read resumably, listed a page at a
 * time. Every failure becomes one error naming the bucket and object (s3-errors.ts).
 */
export class S3Bucket implements S3Access {
  private connection: Promise<{ client: S3Client; sdk: typeof import('@aws-sdk/client-s3') }> | undefined;
  readonly prefix: string;

  constructor(
    private readonly options: S3Options,
    private readonly requests: RequestSettings,
    readonly description: string,
    private readonly reporter: Reporter,
  ) {
    this.prefix = options.prefix;
  }

  /** The SDK is loaded on first use: its start-up is a cost key, hash and local hits never need (docs/benchmark.md). */
  connect(): Promise<{ client: S3Client; sdk: typeof import('@aws-sdk/client-s3') }> {
    this.connection ??= import('@aws-sdk/client-s3').then((sdk) => ({ sdk, client: this.makeClient(sdk) }));
    return this.connection;
  }

  private makeClient(sdk: typeof import('@aws-sdk/client-s3')): S3Client {
    const { options } = this;
    const timeout = this.requests.timeoutSeconds * 1000;
    return new sdk.S3Client({
      region: options.region ?? 'us-east-1',
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.pathStyle,
      ...(options.accessKey && options.secretKey ? { credentials: { accessKeyId: options.accessKey, secretAccessKey: options.secretKey } } : {}),
      maxAttempts: this.requests.retries + 1,
      // The default (WHEN_SUPPORTED) stores aws-chunked framing inside streamed uploads on several
      // S3-compatible servers; terrarium verifies its own sha256 end to end instead.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: timeout, requestTimeout: timeout },
    });
  }

  /** What an upload needs: the client, and the object names and errors of this bucket. */
  async uploadTarget(): Promise<UploadTarget> {
    const { client, sdk } = await this.connect();
    return { client, sdk, bucket: this.options.bucket, name: (n) => this.prefix + n, fail: (what, name, error) => s3Failure(this.options, what, name, error) };
  }

  /**
   * A small object's text, ETag and time of writing; undefined when it is missing or larger than `max`
   * (then not ours). It must arrive whole within SMALL_OBJECT_SILENCES of the silences allowed.
   */
  async read(name: string, max: number, signal?: AbortSignal): Promise<{ body: string; etag: string | undefined; modified: Date | undefined } | undefined> {
    const { client, sdk } = await this.connect();
    const seconds = SMALL_OBJECT_SILENCES * this.requests.timeoutSeconds;
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

  async openObject(name: string, what: string, missing: (where: string) => TerrariumError): Promise<Readable> {
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
      retries: this.requests.retries,
      idleTimeoutMs: this.requests.timeoutSeconds * 1000,
      reopen: async (offset) => (await get(offset, first.etag)).body,
      onRetry: (resumed) => this.reporter.warn({ code: 'DOWNLOAD_RESUMED', what: `${this.description}: ${what}`, ...resumed }),
      failure: (error) => s3Failure(this.options, 'download', name, error),
    });
  }

  /** Writes a small object; resolves with its ETag, or undefined when the condition did not hold (412, or 409 for a race). */
  async write(name: string, body: string, condition: Condition): Promise<string | undefined> {
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

  /** The objects whose names start with `prefix`, a page at a time; the caller may stop early. */
  async *objects(prefix: string, signal?: AbortSignal): AsyncGenerator<_Object[]> {
    const { client, sdk } = await this.connect();
    let token: string | undefined;
    do {
      let page: import('@aws-sdk/client-s3').ListObjectsV2CommandOutput;
      try {
        const command = new sdk.ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: prefix, ContinuationToken: token });
        page = await client.send(command, { abortSignal: signal });
      } catch (error) {
        throw s3Failure(this.options, 'list', prefix, error);
      }
      yield page.Contents ?? [];
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async remove(name: string): Promise<void> {
    const { client, sdk } = await this.connect();
    try {
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.options.bucket, Key: name }));
    } catch (error) {
      throw s3Failure(this.options, 'delete', name, error);
    }
  }
}
