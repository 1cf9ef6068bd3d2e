import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { resumableDownload } from '../../io/retry.js';
import type { TransferProgress } from '../store.js';
import { type Blob, digestOf, MAX_MANIFEST_BYTES, MEDIA_TYPES } from './manifest.js';
import type { RegistryClient } from './registry-client.js';
import { type Body, bufferBody, readBody } from './transport.js';

/** Blobs up to this size go in one PUT; larger ones in PATCHes of this size (a cut costs one chunk, and proxies that cap request bodies pass them). */
export const CHUNK_BYTES = 64 << 20;

/** Bytes to push: a file (a layer) or a buffer (a record), with their sha256. */
export type Source = { sha256: string; size: number } & ({ file: string } | { bytes: Buffer });

/**
 * The blob and manifest operations of distribution-spec 1.1 on one repository. What a registry says
 * about a digest is never taken as the bytes' digest: callers hash what they read.
 */
export class Repository {
  constructor(
    readonly client: RegistryClient,
    private readonly timeoutSeconds: number,
    private readonly retries: number,
    /** Other repositories of the same registry a missing blob may be mounted from. */
    private readonly mountFrom: readonly string[] = [],
    private readonly chunkBytes = CHUNK_BYTES,
  ) {}

  /** The size the registry has for a blob, or undefined when it has none. */
  async blobSize(sha256: string, action: 'pull' | 'push' = 'pull'): Promise<number | undefined> {
    const answer = await this.client.request({ method: 'HEAD', path: `blobs/${digestOf(sha256)}`, action });
    answer.body.resume();
    if (answer.status === 404) return undefined;
    if (answer.status !== 200) throw await this.client.unexpected(answer, `looking for blob ${sha256.slice(0, 16)}`);
    return Number(answer.headers['content-length']);
  }

  /** A blob's bytes from `offset`, or undefined when the registry has none (a redirect to another host is followed without credentials). */
  private async blobFrom(sha256: string, offset: number): Promise<Readable | undefined> {
    const headers: Record<string, string> = offset ? { range: `bytes=${offset}-` } : {};
    const answer = await this.client.request({ method: 'GET', path: `blobs/${digestOf(sha256)}`, action: 'pull', headers });
    if (answer.status === 404) return void answer.body.resume();
    if (answer.status === 200 && !offset) return answer.body;
    if (answer.status === 206 && offset) return answer.body;
    answer.body.resume();
    throw await this.client.unexpected(
      answer,
      offset ? `resuming blob ${sha256.slice(0, 16)} at byte ${offset} (no Range support)` : `reading blob ${sha256.slice(0, 16)}`,
    );
  }

  /** A blob as a stream that resumes with Range after a cut; undefined when the registry has none. */
  async openBlob(sha256: string, onRetry: (resumed: { offset: number; cause: string; retry: number; retries: number }) => void): Promise<Readable | undefined> {
    const first = await this.blobFrom(sha256, 0);
    if (!first) return undefined;
    return resumableDownload(first, {
      retries: this.retries,
      idleTimeoutMs: this.timeoutSeconds * 1000,
      reopen: async (offset) => {
        const rest = await this.blobFrom(sha256, offset);
        if (!rest) throw new Error(`blob ${sha256.slice(0, 16)} went away while it was read`);
        return rest;
      },
      onRetry,
    });
  }

  /** A small blob (a record) whole, when it is there, within `max` bytes and hashing to its digest. */
  async smallBlob(sha256: string, max: number): Promise<Buffer | undefined> {
    const stream = await this.blobFrom(sha256, 0);
    const bytes = stream && (await readBody(stream as import('node:http').IncomingMessage, max, this.timeoutSeconds * 1000));
    return bytes && createHash('sha256').update(bytes).digest('hex') === sha256 ? bytes : undefined;
  }

  /**
   * Pushes a blob unless the registry has it: mounted from a sibling repository where it is known there,
   * else one PUT, or PATCHes of `chunkBytes` then a closing PUT.
   */
  async pushBlob(source: Source, progress?: TransferProgress): Promise<'present' | 'mounted' | 'uploaded'> {
    if ((await this.blobSize(source.sha256, 'push')) === source.size) return 'present';
    let location: URL | undefined;
    for (const from of this.mountFrom) {
      const path = `blobs/uploads/?mount=${digestOf(source.sha256)}&from=${encodeURIComponent(from)}`;
      const answer = await this.client.request({ method: 'POST', path, action: 'push' });
      answer.body.resume();
      if (answer.status === 201) return 'mounted';
      if (answer.status === 202) location = this.location(answer.headers.location);
      if (location) break;
    }
    location ??= await this.startUpload();
    const body = (from: number, length: number): Body => ({
      length,
      open: () => ('file' in source ? createReadStream(source.file, { start: from, end: from + length - 1 }) : source.bytes.subarray(from, from + length)),
    });
    let sent = 0;
    if (source.size > this.chunkBytes) {
      for (; sent < source.size; sent += Math.min(this.chunkBytes, source.size - sent)) {
        const length = Math.min(this.chunkBytes, source.size - sent);
        const headers = { 'content-range': `${sent}-${sent + length - 1}` };
        const answer = await this.client.request({ method: 'PATCH', path: location, action: 'push', headers, body: body(sent, length) });
        if (answer.status !== 202) throw await this.client.unexpected(answer, `uploading blob ${source.sha256.slice(0, 16)}`);
        answer.body.resume();
        location = this.location(answer.headers.location) ?? location;
        if (progress) progress.bytes += length;
      }
    }
    const close = new URL(location);
    close.searchParams.set('digest', digestOf(source.sha256));
    const rest = source.size - sent;
    const answer = await this.client.request({ method: 'PUT', path: close, action: 'push', ...(rest ? { body: body(sent, rest) } : {}) });
    if (answer.status !== 201) throw await this.client.unexpected(answer, `uploading blob ${source.sha256.slice(0, 16)}`);
    answer.body.resume();
    if (progress) progress.bytes += rest;
    return 'uploaded';
  }

  private async startUpload(): Promise<URL> {
    const answer = await this.client.request({ method: 'POST', path: 'blobs/uploads/', action: 'push' });
    const location = answer.status === 202 ? this.location(answer.headers.location) : undefined;
    // ECR and some Harbor projects do not create a repository on first push.
    const hint =
      answer.status === 404
        ? `the repository does not exist: create ${this.client.name} first (ECR: aws ecr create-repository), or pass --no-upload`
        : undefined;
    if (!location) throw await this.client.unexpected(answer, 'starting an upload', hint);
    answer.body.resume();
    return location;
  }

  /** An upload's next address, on the registry's own origin only (credentials go with it). */
  private location(header: string | undefined): URL | undefined {
    const url = header && URL.canParse(header, this.client.base) ? new URL(header, this.client.base) : undefined;
    return url && url.origin === this.client.base.origin ? url : undefined;
  }

  async deleteBlob(sha256: string): Promise<void> {
    const answer = await this.client.request({ method: 'DELETE', path: `blobs/${digestOf(sha256)}`, action: 'delete' });
    answer.body.resume();
  }

  /** A manifest or index by tag or digest, bounded, with the sha256 of its bytes as read; undefined when there is none. */
  async manifest(reference: string, signal?: AbortSignal): Promise<Blob | undefined> {
    const accept = `${MEDIA_TYPES.manifest}, ${MEDIA_TYPES.index}`;
    const answer = await this.client.request({ method: 'GET', path: `manifests/${reference}`, action: 'pull', headers: { accept }, signal });
    if (answer.status === 404) return void answer.body.resume();
    if (answer.status !== 200) throw await this.client.unexpected(answer, `reading manifest ${reference}`);
    const bytes = await readBody(answer.body, MAX_MANIFEST_BYTES, this.timeoutSeconds * 1000);
    return bytes && { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
  }

  async putManifest(reference: string, manifest: Blob, mediaType: string): Promise<void> {
    const answer = await this.client.request({
      method: 'PUT',
      path: `manifests/${reference}`,
      action: 'push',
      body: bufferBody(manifest.bytes, mediaType),
    });
    if (answer.status !== 201) throw await this.client.unexpected(answer, `pushing manifest ${reference}`);
    answer.body.resume();
  }

  /** Deletes a manifest by digest (with the tags that name it); one already gone is no error. */
  async deleteManifest(sha256: string): Promise<void> {
    const answer = await this.client.request({ method: 'DELETE', path: `manifests/${digestOf(sha256)}`, action: 'delete' });
    if (answer.status === 202 || answer.status === 200 || answer.status === 404) return void answer.body.resume();
    const hint = answer.status === 405 ? 'the registry does not allow deletes (distribution: storage.delete.enabled: true)' : undefined;
    throw await this.client.unexpected(answer, `deleting manifest ${sha256.slice(0, 16)}`, hint);
  }
}
