import type { Platform } from '../python/fingerprint.js';
import { chooseVariant, variantsOf } from './variants.js';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { TerrariumError, describeCause } from '../errors.js';
import { backoffMs, resumableDownload } from '../io/retry.js';
import type { Reporter } from '../report/reporter.js';
import type { Layer } from '../archive/layers.js';
import {
  MAX_RECORD_BYTES,
  MAX_SIGNATURE_BYTES,
  archiveName,
  blobName,
  missingArchive,
  missingLayer,
  parseRecord,
  recordName,
  signatureName,
  type ArchiveRecord,
  type Store,
} from './store.js';

/**
 * A read-only store over plain HTTP(S) GETs: a web server or CDN in front of a storage directory, or a
 * public bucket (`URL/KEY.json`, then the archive it names). It holds no secrets, so pull-request
 * builds can restore from it; terrarium never writes to it (it is not a WritableStore: no publish, prune or list).
 */
export class HttpStore implements Store {
  readonly description: string;
  readonly remote = true;
  private readonly base: string;

  constructor(
    url: string,
    private readonly retries: number,
    private readonly timeoutSeconds: number,
    private readonly reporter: Reporter,
  ) {
    this.base = url.endsWith('/') ? url : `${url}/`;
    this.description = this.base;
  }

  async archives(key: string): Promise<ArchiveRecord[]> {
    const text = await this.getSmall(recordName(key), MAX_RECORD_BYTES);
    const document = text === undefined ? undefined : parseRecord(text, key);
    return document ? variantsOf(document) : [];
  }

  async lookup(key: string, local?: Platform): Promise<ArchiveRecord | undefined> {
    return chooseVariant(await this.archives(key), local);
  }

  async signature(record: ArchiveRecord): Promise<string | undefined> {
    return this.getSmall(signatureName(record), MAX_SIGNATURE_BYTES);
  }

  /** A small object's text; undefined when missing or beyond `max` bytes (read no further than that). */
  private async getSmall(name: string, max: number): Promise<string | undefined> {
    const response = await this.get(name);
    if (!response?.body) return undefined;
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of Readable.fromWeb(response.body as import('node:stream/web').ReadableStream)) {
      length += (chunk as Buffer).length;
      if (length > max) {
        await response.body.cancel().catch(() => undefined);
        return undefined;
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async open(record: ArchiveRecord): Promise<Readable> {
    return this.openObject(archiveName(record), `download of ${record.key}`, missingArchive);
  }

  async openBlob(layer: Layer): Promise<Readable> {
    return this.openObject(blobName(layer.sha256), `download of layer ${layer.name}`, (where) => missingLayer(layer, where));
  }

  private async openObject(name: string, what: string, missing: (where: string) => TerrariumError): Promise<Readable> {
    const body = async (offset: number, etag?: string | null) => {
      const response = await this.get(name, { ...(offset ? { range: `bytes=${offset}-` } : {}), ...(etag ? { 'if-range': etag } : {}) });
      if (!response?.body) throw offset ? this.failure(name, new Error('the object its record names is missing')) : missing(this.base + name);
      if (offset && response.status !== 206) throw this.failure(name, new Error('the server cannot resume a download (no Range support)'));
      return { stream: Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), etag: response.headers.get('etag') };
    };
    const first = await body(0);
    return resumableDownload(first.stream, {
      retries: this.retries,
      idleTimeoutMs: this.timeoutSeconds * 1000,
      reopen: async (offset) => (await body(offset, first.etag)).stream,
      what: `${this.base}: ${what}`,
      onRetry: (message) => this.reporter.warn(message),
    });
  }

  /** GET with retries on network errors, 5xx and 429; undefined for 404; an error for anything else. */
  private async get(name: string, headers: Record<string, string> = {}): Promise<Response | undefined> {
    const url = this.base + name;
    for (let failures = 0; ; failures++) {
      let response: Response;
      try {
        response = await fetch(url, { headers, signal: AbortSignal.timeout(this.timeoutSeconds * 1000) });
      } catch (error) {
        if (failures >= this.retries) throw this.failure(name, error, failures + 1);
        await sleep(backoffMs(failures + 1));
        continue;
      }
      if (response.status === 404 || response.status === 410) return undefined;
      if (response.ok) return response;
      await response.body?.cancel();
      const cause = new Error(`HTTP ${response.status} ${response.statusText}`);
      if ((response.status >= 500 || response.status === 429) && failures < this.retries) {
        await sleep(backoffMs(failures + 1));
        continue;
      }
      if (response.status === 401 || response.status === 403) {
        throw new TerrariumError('STORAGE_AUTH', `cannot read ${url}: ${cause.message}`, { hint: '--storage-url must be readable without credentials' });
      }
      throw this.failure(name, cause, failures + 1);
    }
  }

  private failure(name: string, error: unknown, attempts?: number): TerrariumError {
    return new TerrariumError(
      'STORAGE_UNREACHABLE',
      `cannot read ${this.base}${name}${attempts ? ` after ${attempts} attempts` : ''}: ${describeCause(error)}`,
      {
        hint: 'check the URL and the network (--storage-url)',
        cause: error,
      },
    );
  }
}
