import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { readWhole } from '../../io/read-whole.js';
import { backoffMs } from '../../io/retry.js';
import { type RequestSettings, SMALL_OBJECT_SILENCES } from '../store.js';

/** A request body that can be sent again (after a challenge, a retry): its length and a way to open it anew. */
export interface Body {
  length: number;
  open: () => Readable | Buffer;
  type?: string;
}

/** Bytes in memory as a body (a manifest, a record). */
export const bufferBody = (bytes: Buffer, type?: string): Body => ({ length: bytes.length, open: () => bytes, ...(type ? { type } : {}) });

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  /** Where the answer came from, after redirects. */
  url: URL;
}

export interface Exchange {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  body?: Body;
  signal?: AbortSignal;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;
/** A Retry-After longer than this is waited only this long: a registry must not park a CI job. */
const MAX_RETRY_AFTER_MS = 60_000;

/** The wait a 429 or 503 asks for (seconds or an HTTP date), bounded; undefined when it names none. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS) : undefined;
}

/**
 * HTTP for a registry: one exchange with retries (network errors, 5xx, 429 with its Retry-After), and
 * redirects of reads followed with `authorize` asked again for each hop, so that credentials go only to
 * the origin they were asked for (a blob read redirected to S3 or a CDN gets none).
 */
export class Transport {
  constructor(
    private readonly requests: RequestSettings,
    private readonly onRetry?: (why: string, waitMs: number) => void,
  ) {}

  async exchange(request: Exchange, authorize: (url: URL) => Promise<string | undefined>): Promise<Answer> {
    for (let failures = 0; ; failures++) {
      let answer: Answer;
      try {
        answer = await this.follow(request, authorize);
      } catch (error) {
        if (request.signal?.aborted || failures >= this.requests.retries || isOurs(error)) throw error;
        const wait = backoffMs(failures + 1);
        this.onRetry?.(String((error as Error).message ?? error), wait);
        await sleep(wait, undefined, { signal: request.signal });
        continue;
      }
      const retryable = answer.status >= 500 || answer.status === 429;
      if (!retryable || failures >= this.requests.retries) return answer;
      answer.body.resume();
      const wait = retryAfterMs(answer.headers['retry-after']) ?? backoffMs(failures + 1);
      this.onRetry?.(`HTTP ${answer.status}`, wait);
      await sleep(wait, undefined, { signal: request.signal });
    }
  }

  private async follow(request: Exchange, authorize: (url: URL) => Promise<string | undefined>): Promise<Answer> {
    let url = request.url;
    for (let hops = 0; ; hops++) {
      const authorization = await authorize(url);
      const answer = await this.send({ ...request, url }, authorization);
      const location = answer.headers.location;
      const follows = (request.method === 'GET' || request.method === 'HEAD') && REDIRECTS.has(answer.status) && location;
      if (!follows) return answer;
      answer.body.resume();
      const next = URL.canParse(location, url) ? new URL(location, url) : undefined;
      if (!next || !['http:', 'https:'].includes(next.protocol) || hops >= MAX_REDIRECTS) {
        throw new TransportError(`${url.host} redirects ${hops >= MAX_REDIRECTS ? 'too often' : 'to no HTTP(S) address'}`);
      }
      url = next;
    }
  }

  /** One request; the answer's headers must come within the silence allowed (its body's reader bounds the rest). */
  private send(request: Exchange, authorization: string | undefined): Promise<Answer> {
    const { url, method, body } = request;
    const headers: Record<string, string> = { 'user-agent': 'terrarium', ...request.headers };
    if (authorization) headers.authorization = authorization;
    if (body) {
      headers['content-length'] = String(body.length);
      headers['content-type'] = body.type ?? 'application/octet-stream';
    } else if (method === 'PUT' || method === 'POST' || method === 'PATCH') headers['content-length'] = '0';
    const client = url.protocol === 'https:' ? https : http;
    return new Promise<Answer>((resolve, reject) => {
      const req = client.request(url, { method, headers, signal: request.signal, timeout: this.requests.timeoutSeconds * 1000 });
      req.on('timeout', () => req.destroy(new TransportError(`no answer from ${url.host} for ${this.requests.timeoutSeconds} s`)));
      req.on('error', reject);
      req.on('response', (response) => {
        req.setTimeout(0);
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: response, url });
      });
      if (!body) return void req.end();
      const content = body.open();
      if (Buffer.isBuffer(content)) return void req.end(content);
      content.on('error', (error) => req.destroy(error));
      content.pipe(req);
    });
  }
}

/** A failure of the exchange itself (a bad redirect): not worth retrying. */
export class TransportError extends Error {}

const isOurs = (error: unknown) => error instanceof TransportError && !/^no answer/.test(error.message);

/** Reads a body whole, at most `max` bytes (undefined beyond, or when its length says so at once), each silence at most `timeoutMs`. */
export async function readBody(body: IncomingMessage, max: number, timeoutMs: number): Promise<Buffer | undefined> {
  const declared = Number(body.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    body.destroy();
    return undefined;
  }
  return readWhole(body, max, timeoutMs, SMALL_OBJECT_SILENCES * timeoutMs);
}
