import { type LockHolder, parseHolder } from '../io/lock.js';
import { type Owner, SELF } from '../io/owner.js';

/**
 * The build lease: a small object beside a key's record saying that one run is building that key, so
 * that the other runners that miss it at the same moment wait for its archive instead of building it
 * too. It is advice, never a lock on anything that matters: a lease that lies (a hostile store) can
 * only make a runner wait up to --build-wait and then build itself. Its holder is written and read as
 * a lock's (io/lock.ts); this is the holder as shown, its host name made safe to print.
 */
export interface LeaseHolder extends Owner {
  /** The host's name as its owner knows it, for messages only (Owner.host is what is compared). */
  hostname: string;
  /** Tells this holding apart from a later one by the same pid. */
  nonce: string;
  since: string;
}

/** A builder renews its lease this often; a lease not renewed for LEASE_STALE_MS is taken over. */
export const LEASE_RENEW_MS = 10_000;
export const LEASE_STALE_MS = 60_000;
/** A failed build on another host is reported to runs that ask within this long after it (later ones try again). */
export const FAILURE_FRESH_MS = 60_000;

/** What a builder that failed leaves for the runs waiting on it. */
export interface BuildFailure {
  holder: LeaseHolder;
  at: string;
  /** The builder's error code (one of terrarium's), and its message. */
  code: string;
  message: string;
}

export interface HeldLease {
  /** Ends the lease; with a failure, the runs waiting fail fast with it instead of building again. */
  release(failure?: Pick<BuildFailure, 'code' | 'message'>): Promise<void>;
}

export type LeaseAttempt =
  | { kind: 'held'; lease: HeldLease }
  | { kind: 'busy'; holder: LeaseHolder | undefined }
  /** The store cannot hold a lease now (read-only, denied): the run builds without one. */
  | { kind: 'unavailable'; why: string };

/** What a writable store offers to coordinate builds of one key across runners. */
export interface BuildLeases {
  take(key: string): Promise<LeaseAttempt>;
  failure(key: string): Promise<BuildFailure | undefined>;
}

export const leaseName = (key: string) => `${key}.lease`;
export const failureName = (key: string) => `${key}.build-failed`;
/** Whether a store's file is a build lease or a failure note (what `prune` sweeps once old). */
export const isBuildNote = (name: string) => name.endsWith('.lease') || name.endsWith('.build-failed');

/** Text from a store, made safe to print: printable ASCII only, and short. */
export function printable(text: string, max = 200): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/** A lock's holder as a lease shows it: only the fields it has, the host name printable and short. */
export function leaseHolder(holder: LockHolder): LeaseHolder {
  const { host, pid, nonce, since } = holder;
  return { host, pid, nonce, since, hostname: printable(typeof holder.hostname === 'string' ? holder.hostname : 'an unknown host', 64) };
}

/** A lease as stored; anything malformed is undefined (judged like a foreign file: by its age). */
export function parseLease(text: string): LeaseHolder | undefined {
  const holder = parseHolder(text);
  return holder && typeof holder.since === 'string' ? leaseHolder(holder) : undefined;
}

export function parseFailure(text: string): BuildFailure | undefined {
  try {
    const value = JSON.parse(text) as Partial<BuildFailure>;
    const holder = parseLease(JSON.stringify(value.holder ?? null));
    if (!holder || typeof value.at !== 'string' || Number.isNaN(Date.parse(value.at))) return undefined;
    if (typeof value.code !== 'string' || typeof value.message !== 'string') return undefined;
    return { holder, at: value.at, code: printable(value.code, 40), message: printable(value.message, 500) };
  } catch {
    return undefined;
  }
}

/**
 * True when a failure note concerns a run that asks now, having started to wait at `waitingSince`: the
 * build it waited for failed, or another host's build failed moments ago. A run on the builder's own
 * host that comes later tries again (most likely its user, after fixing what failed).
 */
export function failureApplies(failure: BuildFailure, waitingSince: number, now = Date.now(), host = SELF.host): boolean {
  const at = Date.parse(failure.at);
  if (at > now + LEASE_STALE_MS) return false;
  return at >= waitingSince || (failure.holder.host !== host && now - at <= FAILURE_FRESH_MS);
}
