import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Layer } from '../archive/layers.js';
import { describeCause, TerrariumError } from '../errors.js';
import { readWhole } from '../io/read-whole.js';
import { backoffMs, resumableDownload } from '../io/retry.js';
import type { Platform } from '../python/fingerprint.js';
import type { Reporter } from '../report/reporter.js';
import { shownUrl } from '../report/shown-url.js';
import { indexName, MAX_INDEX_BYTES } from './layer-index.js';
import { parseRecord } from './record.js';
import {
  type ArchiveRecord,
  archiveName,
  blobName,
  type IndexFiles,
  MAX_RECORD_BYTES,
  MAX_SIGNATURE_BYTES,
  missingArchive,
  missingLayer,
  type RequestSettings,
  recordName,
  SMALL_OBJECT_SILENCES,
  type Store,
  signatureName,
} from './store.js';
import { chooseVariant, variantsOf } from './variants.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/**
 * A read-only store over plain HTTP(S) GETs: a web server or CDN in front of a storage directory, or a
 * public bucket (`URL/KEY.json`, then the archive it names). It holds no secrets, so pull-request
 * builds can restore from it; terrarium never writes to it (it is not a WritableStore: no publish, prune or list).
 */
export class HttpStore implements Store {
  readonly description: string;
  readonly remote = true;
  /** Where objects are, without credentials or query (`base + name + query` is an object's URL). */
  private readonly base: string;
  private readonly query: string;

  constructor(
    url: string,
    private readonly requests: RequestSettings,
    private readonly reporter: Reporter,
  ) {
    const parsed = new URL(url);
    // A query (a token) stays after each object's name; credentials in a URL are refused by the options.
    this.query = parsed.search;
    parsed.search = parsed.hash = '';
    this.base = parsed.href.endsWith('/') ? parsed.href : `${parsed.href}/`;
    this.description = shownUrl(this.base + this.query);
  }

  async archives(key: string): Promise<ArchiveRecord[]> {
    const text = await this.getSmall(recordName(key), MAX_RECORD_BYTES);
    const document = text === undefined ? undefined : parseRecord(text, key);
    return document ? variantsOf(document) : [];
  }

  async lookup(key: string, local?: Platform): Promise<ArchiveRecord | undefined> {
    return chooseVariant(await this.archives(key), local);
  }

  readonly index: IndexFiles = { read: (id) => this.getSmall(indexName(id), MAX_INDEX_BYTES) };

  async signature(record: ArchiveRecord): Promise<string | undefined> {
    return this.getSmall(signatureName(record), MAX_SIGNATURE_BYTES);
  }

  /**
   * A small object's text; undefined when missing or beyond `max` bytes (read no further than that).
   * Besides the silence allowed, the whole of it must come within SMALL_OBJECT_SILENCES silences: a
   * server that trickles a record in must not hold an install for hours.
   */
  private async getSmall(name: string, max: number): Promise<string | undefined> {
    const response = await this.get(name);
    if (!response?.body) return undefined;
    const stream = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream);
    const allowed = this.requests.timeoutSeconds * 1000;
    const bytes = await readWhole(stream, max, allowed, SMALL_OBJECT_SILENCES * allowed).catch((error: unknown) => {
      throw this.failure(name, error);
    });
    return bytes?.toString('utf8');
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
      if (!response?.body) throw offset ? this.failure(name, new Error('the object its record names is missing')) : missing(this.shown(name));
      if (offset && response.status !== 206) throw this.failure(name, new Error('the server cannot resume a download (no Range support)'));
      return { stream: Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), etag: response.headers.get('etag') };
    };
    const first = await body(0);
    // The silence allowed is resumableDownload's: a slow but steady body is never cut.
    return resumableDownload(first.stream, {
      retries: this.requests.retries,
      idleTimeoutMs: this.requests.timeoutSeconds * 1000,
      reopen: async (offset) => (await body(offset, first.etag)).stream,
      onRetry: (resumed) => this.reporter.warn({ code: 'DOWNLOAD_RESUMED', what: `${this.description}: ${what}`, ...resumed }),
      failure: (error) => this.failure(name, error),
    });
  }

  /**
   * GET with retries on network errors, 5xx and 429; undefined for 404; an error for anything else.
   * The time allowed (--s3-timeout) is for the answer's headers; its body's reader bounds the silences.
   */
  private async get(name: string, headers: Record<string, string> = {}): Promise<Response | undefined> {
    const url = this.shown(name);
    for (let failures = 0; ; failures++) {
      let response: Response;
      const controller = new AbortController();
      const answer = setTimeout(() => controller.abort(new Error(`no answer for ${this.requests.timeoutSeconds} s`)), this.requests.timeoutSeconds * 1000);
      try {
        response = await this.follow(this.base + name + this.query, headers, controller.signal);
      } catch (error) {
        if (error instanceof TerrariumError) throw error;
        if (failures >= this.requests.retries) throw this.failure(name, error, failures + 1);
        await sleep(backoffMs(failures + 1));
        continue;
      } finally {
        clearTimeout(answer);
      }
      if (response.status === 404 || response.status === 410) return undefined;
      if (response.ok) return response;
      await response.body?.cancel();
      const cause = new Error(`HTTP ${response.status} ${response.statusText}`);
      if ((response.status >= 500 || response.status === 429) && failures < this.requests.retries) {
        await sleep(backoffMs(failures + 1));
        continue;
      }
      if (response.status === 401 || response.status === 403) {
        throw new TerrariumError('STORAGE_AUTH', `cannot read ${url}: ${cause.message}`, { hint: '--storage-url must be readable without credentials' });
      }
      throw this.failure(name, cause, failures + 1);
    }
  }

  /**
   * One GET, following redirects here: a redirect to another host is said under -V, and nothing of the
   * store's URL (its query's token) goes along; only what the redirect itself names is requested.
   */
  private async follow(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
    for (let hops = 0; ; hops++) {
      const here = new URL(url);
      const response = await fetch(url, { headers, redirect: 'manual', signal });
      const location = REDIRECTS.has(response.status) ? response.headers.get('location') : null;
      if (location === null) return response;
      await response.body?.cancel();
      const next = URL.canParse(location, url) ? new URL(location, url) : undefined;
      if (!next || !['http:', 'https:'].includes(next.protocol) || hops >= MAX_REDIRECTS) {
        throw new TerrariumError('STORAGE_UNREACHABLE', `${shownUrl(url)} redirects ${hops >= MAX_REDIRECTS ? 'too often' : `to ${shownUrl(location)}`}`, {
          hint: 'check --storage-url: it must lead to the store with at most a few redirects, over HTTP(S)',
        });
      }
      if (next.origin !== here.origin) this.reporter.detail({ code: 'REDIRECTED', from: shownUrl(url), to: shownUrl(next.href) });
      url = next.href;
    }
  }

  /** An object's URL as it may be shown. */
  private shown(name: string): string {
    return shownUrl(this.base + name + this.query);
  }

  private failure(name: string, error: unknown, attempts?: number): TerrariumError {
    return new TerrariumError(
      'STORAGE_UNREACHABLE',
      `cannot read ${this.shown(name)}${attempts ? ` after ${attempts} attempts` : ''}: ${describeCause(error)}`,
      {
        hint: 'check the URL and the network (--storage-url)',
        cause: error,
      },
    );
  }
}
