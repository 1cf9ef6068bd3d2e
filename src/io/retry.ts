import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeCause } from '../errors.js';

/** Exponential backoff with full jitter: 0.2 s, 0.4 s, 0.8 s, … capped at 5 s (before jitter). */
export function backoffMs(failures: number): number {
  return Math.random() * Math.min(5000, 200 * 2 ** (failures - 1));
}

export interface Resumption {
  offset: number;
  cause: string;
  retry: number;
  retries: number;
}

export interface ResumeOptions {
  /** How many times a broken download may be resumed. */
  retries: number;
  /** Opens the same object again from byte `offset` on. */
  reopen: (offset: number) => Promise<Readable>;
  /** Told of each resumption: where the body broke, why, and which retry this is. */
  onRetry?: (resumed: Resumption) => void;
  /** A body silent this long is taken as broken (a stalled connection never errors by itself). */
  idleTimeoutMs: number;
  signal?: AbortSignal | undefined;
  /** The error the stream fails with once the retries are spent, from the last cause (default: that cause). */
  failure?: (error: unknown) => unknown;
}

/**
 * A download that survives connection resets and stalls: when the body breaks, the rest is fetched
 * from where it stopped (an HTTP Range request, pinned to the same object version by the caller) after
 * a backoff, so a long transfer is not restarted from zero and the consumer sees one unbroken stream.
 */
export function resumableDownload(first: Readable, options: ResumeOptions): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    let body: Readable | undefined = first;
    let offset = 0;
    let failures = 0;
    for (;;) {
      let idle: NodeJS.Timeout | undefined;
      try {
        body ??= await options.reopen(offset);
        const current = body;
        idle = setTimeout(() => current.destroy(new Error(`no data for ${options.idleTimeoutMs / 1000} s`)), options.idleTimeoutMs);
        for await (const chunk of body) {
          idle.refresh();
          offset += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        return;
      } catch (error) {
        body?.destroy();
        body = undefined;
        if (options.signal?.aborted) throw error;
        if (failures >= options.retries) throw options.failure ? options.failure(error) : error;
        failures += 1;
        options.onRetry?.({ offset, cause: describeCause(error), retry: failures, retries: options.retries });
        await sleep(backoffMs(failures), undefined, { signal: options.signal });
      } finally {
        clearTimeout(idle);
      }
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}
