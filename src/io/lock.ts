import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno } from '../errors.js';
import { readBoundedSync, writeFileAtomic } from './fs.js';
import { type Owner, ownerGone, SELF } from './owner.js';

export interface LockHolder extends Owner {
  /** The host's name, for messages (Owner.host is what is compared); absent in locks of terrarium 0.1. */
  hostname?: string;
  /** Tells this holding apart from a later one by the same pid. */
  nonce: string;
  since: string;
  command: string;
}

export interface Lock {
  /** Who holds it: this run. */
  readonly holder: LockHolder;
  release(): Promise<void>;
  /**
   * The fencing check: resolves while the lock file is still this holding's, throws LockLost once
   * another run has taken it over (this one stalled past LOCK_STALE_MS: a paused VM, a hung mount).
   * Called before each irreversible step, so a holder that lost its lock stops instead of racing the new one.
   */
  assertHeld(): Promise<void>;
}

/** This process as the holder of a new lock (or build lease) for `command`. */
export function newHolder(command: string): LockHolder & { hostname: string } {
  return { ...SELF, hostname: hostname(), nonce: randomBytes(8).toString('hex'), since: new Date().toISOString(), command };
}

export class LockLost extends Error {
  constructor(readonly holder: LockHolder | undefined) {
    super('lock taken over by another run');
  }
}

export interface LockOptions {
  /** What the holder is doing, shown to whoever waits. */
  command: string;
  /** How long to wait for another holder; 0 fails at once. */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Called once, when the lock is found held by a live process and the wait begins. */
  onWait?: (holder: LockHolder | undefined) => void;
}

export class LockTimeout extends Error {
  constructor(readonly holder: LockHolder | undefined) {
    super('lock wait timed out');
  }
}

/** A holder refreshes its lock's mtime this often; a lock from another host is stale after LOCK_STALE_MS without one. */
const HEARTBEAT_MS = 10_000;
const LOCK_STALE_MS = 60_000;

/**
 * An exclusive lock file. Taking it is one link(2) of a complete file (so nobody ever reads a half-written
 * lock); a lock whose holder is dead (same host: its pid is gone; another host: no heartbeat for a
 * minute) is broken under a second, short-lived lock, and only if it is still the lock that was judged
 * stale, so two waiters never both take over.
 */
export async function acquireLock(file: string, options: LockOptions): Promise<Lock> {
  const me = newHolder(options.command);
  const deadline = Date.now() + options.timeoutMs;
  let waiting = false;
  for (let attempt = 0; ; attempt++) {
    if (await tryCreate(file, me)) return held(file, me);
    const current = await readHolder(file);
    if (!current) continue;
    if (current.stale) {
      await breakStale(file, current.holder, me);
      continue;
    }
    if (Date.now() >= deadline) throw new LockTimeout(current.holder);
    if (!waiting) options.onWait?.(current.holder);
    waiting = true;
    await sleep(Math.min(500, 25 * 2 ** Math.min(attempt, 5), Math.max(1, deadline - Date.now())), undefined, { signal: options.signal });
  }
}

function held(file: string, me: LockHolder): Lock {
  const heartbeat = setInterval(() => {
    const now = new Date();
    fs.utimes(file, now, now).catch(() => undefined);
  }, HEARTBEAT_MS);
  heartbeat.unref();
  return {
    holder: me,
    release: async () => {
      clearInterval(heartbeat);
      const current = await readHolder(file);
      if (current?.holder?.nonce === me.nonce) await fs.rm(file, { force: true });
    },
    assertHeld: async () => {
      const current = await readHolder(file);
      if (current?.holder?.nonce !== me.nonce) throw new LockLost(current?.holder);
    },
  };
}

function tryCreate(file: string, holder: LockHolder): Promise<boolean> {
  // Not made durable: an empty lock file left by a power cut is judged, like a foreign one, by its age.
  return writeFileAtomic(file, `${JSON.stringify(holder)}\n`, { create: true, durable: false, failpoint: 'lock-written' });
}

interface Observed {
  /** Undefined when the file does not hold a lock terrarium wrote. */
  holder: LockHolder | undefined;
  stale: boolean;
}

/** A holder is a line of JSON; a lock file larger than this was not written by terrarium. */
const MAX_HOLDER_BYTES = 4 << 10;

async function readHolder(file: string): Promise<Observed | undefined> {
  let mtime: Date;
  try {
    ({ mtime } = await fs.lstat(file));
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
  let text = '';
  try {
    // Build leases live in shared storage: the file may be planted (a giant, a FIFO, a symlink to
    // /dev/zero). Such a file is read as no holder, and judged, like any foreign one, by its own age.
    text = readBoundedSync(file, MAX_HOLDER_BYTES, { noFollow: true }).toString('utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    if (!isErrno(error, 'EFBIG', 'ENOTREG', 'EISDIR', 'ELOOP')) throw error;
  }
  const holder = parseHolder(text);
  // A file that is not a lock of ours is judged like a foreign one: by its age alone.
  const owner = holder ?? { host: '', pid: 0 };
  return { holder, stale: ownerGone(owner, mtime, Date.now(), LOCK_STALE_MS) };
}

/** A holder as written by newHolder; anything else (not JSON, fields missing) is undefined. */
export function parseHolder(text: string): LockHolder | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (typeof value.host !== 'string' || !Number.isSafeInteger(value.pid) || typeof value.nonce !== 'string') return undefined;
    return value as LockHolder;
  } catch {
    return undefined;
  }
}

async function breakStale(file: string, stale: LockHolder | undefined, me: LockHolder): Promise<void> {
  const breaker = `${file}.break`;
  if (!(await tryCreate(breaker, me))) {
    // Breaking takes microseconds: a breaker that stays is one whose process died while holding it.
    const other = await readHolder(breaker);
    if (other?.stale) await fs.rm(breaker, { force: true });
    else await sleep(10);
    return;
  }
  try {
    const current = await readHolder(file);
    if (current?.stale && current.holder?.nonce === stale?.nonce) await fs.rm(file, { force: true });
  } finally {
    await fs.rm(breaker, { force: true });
  }
}
