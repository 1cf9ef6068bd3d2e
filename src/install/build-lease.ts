import { setTimeout as sleep } from 'node:timers/promises';
import { describeCause, type ErrorCode, TerrariumError } from '../errors.js';
import type { Platform } from '../python/fingerprint.js';
import type { ReportEvent } from '../report/events.js';
import { formatDuration } from '../report/format.js';
import { describeLeaseHolder } from '../report/words.js';
import { type BuildFailure, failureApplies, type HeldLease, type LeaseHolder } from '../stores/lease.js';
import type { WritableStore } from '../stores/store.js';
import type { JobContext } from './settings.js';

export interface TurnJob extends JobContext {
  key: string;
  /** This machine's: an archive another runner published for another platform is no reason to stop waiting. */
  platform: Platform;
  /** The store the build will be published to, where the lease lives. */
  store: WritableStore;
  buildWaitSeconds: number;
}

/** Build here (holding the lease when one could be taken), or restore what another runner published meanwhile. */
export type Turn = ({ kind: 'build'; lease: HeldLease | undefined } | { kind: 'published' }) & { waited?: Waited };

/** How long a run waited for another runner's build, and for whom (as its lease names it). */
export interface Waited {
  seconds: number;
  host: string;
  pid: number | undefined;
}

/** Errors that the same requirements would meet on any runner: worth telling the runs that wait. */
const SHARED_FAILURES: ReadonlySet<ErrorCode> = new Set(['BUILD_VENV_FAILED', 'BUILD_PIP_FAILED']);

/**
 * On a miss: take the key's build lease in the store, or wait (up to --build-wait) while the runner
 * that holds it builds, then restore its archive. A builder that failed makes its waiters fail fast
 * with its error; one that died or stopped renewing is replaced by exactly one waiter.
 */
export async function awaitTurn(job: TurnJob): Promise<Turn> {
  const { key, store, reporter } = job;
  const started = Date.now();
  const deadline = started + job.buildWaitSeconds * 1000;
  let holder: LeaseHolder | undefined;
  let waiting = false;
  // Why a run builds after all is news once it has said that it waits; before, a detail.
  const say = (event: ReportEvent) => (waiting ? reporter.warn(event) : reporter.detail(event));
  const poll = async (): Promise<Turn | undefined> => {
    if (job.buildWaitSeconds > 0) {
      const failure = await store.leases.failure(key);
      if (failure && failureApplies(failure, started)) throw failedElsewhere(key, failure);
    }
    const attempt = await store.leases.take(key);
    if (attempt.kind === 'unavailable') {
      say({ code: 'LEASE_UNAVAILABLE', store: store.description, key, cause: attempt.why });
      return { kind: 'build', lease: undefined };
    }
    const lease = attempt.kind === 'held' ? attempt.lease : undefined;
    // The builder publishes before it lets go: a lease found free may follow a publication.
    const found = await store.lookup(key, job.platform).then(
      (record) => record !== undefined,
      (error: unknown) => {
        say({ code: 'LEASE_LOOKUP_FAILED', store: store.description, key, cause: describeCause(error) });
        return undefined;
      },
    );
    if (found === undefined) return { kind: 'build', lease };
    if (found) {
      await lease?.release();
      return { kind: 'published' };
    }
    if (lease) return { kind: 'build', lease };
    holder = attempt.kind === 'busy' ? attempt.holder : undefined;
    if (Date.now() < deadline) return undefined;
    if (waiting) reporter.warn({ code: 'BUILD_WAIT_GAVE_UP', key, holder, seconds: job.buildWaitSeconds });
    else reporter.detail({ code: 'BUILDING_TOO', key, holder });
    return { kind: 'build', lease: undefined };
  };
  const first = await poll();
  if (first) return first;
  waiting = true;
  reporter.info({ code: 'BUILD_WAITING', key, holder, seconds: job.buildWaitSeconds });
  return reporter.during(
    'wait',
    async (phase) => {
      for (let round = 0; ; round++) {
        await sleep(Math.min(2000, 250 * 2 ** round), undefined, { signal: job.signal });
        const next = await poll();
        if (!next) continue;
        phase.done({
          code: 'WAIT_ENDED',
          key,
          store: store.description,
          next: next.kind === 'published' ? 'published' : next.lease ? 'builder-gone' : 'build-here',
        });
        return { ...next, waited: { seconds: (Date.now() - started) / 1000, host: holder?.hostname ?? 'an unknown host', pid: holder?.pid } };
      }
    },
    () => `${formatDuration(Date.now() - started)} of ${job.buildWaitSeconds} s`,
  );
}

/** Ends a held lease after a build: a failure that any runner would meet is left for the waiters. */
export async function endLease(lease: HeldLease | undefined, error: unknown, signal: AbortSignal | undefined): Promise<void> {
  if (!lease) return;
  const shared = !signal?.aborted && error instanceof TerrariumError && SHARED_FAILURES.has(error.code);
  await lease.release(shared ? { code: error.code, message: error.message } : undefined).catch(() => undefined);
}

function failedElsewhere(key: string, failure: BuildFailure): TerrariumError {
  const ago = formatDuration(Math.max(0, Date.now() - Date.parse(failure.at)));
  return new TerrariumError(
    'BUILD_FAILED_ELSEWHERE',
    `${key} failed to build on ${describeLeaseHolder(failure.holder)} ${ago} ago (${failure.code}: ${failure.message}); not building it again here`,
    { hint: 'fix what that build reported (its log has the details), or pass --build-wait 0 to build here anyway' },
  );
}
