import { describeCause } from '../errors.js';
import { type LockHolder, newHolder } from '../io/lock.js';
import { ownerGone } from '../io/owner.js';
import type { Reporter } from '../report/reporter.js';
import {
  type BuildFailure,
  type BuildLeases,
  failureName,
  type HeldLease,
  LEASE_RENEW_MS,
  LEASE_STALE_MS,
  type LeaseAttempt,
  leaseHolder,
  leaseName,
  parseFailure,
  parseLease,
} from './lease.js';

const MAX_LEASE_BYTES = 8 << 10;

export type Condition = { IfNoneMatch: '*' } | { IfMatch: string } | Record<string, never>;

/** What the lease needs of its S3Store: bounded reads, conditional writes and deletes of small objects. */
export interface S3Access {
  prefix: string;
  description: string;
  read(name: string, max: number): Promise<{ body: string; etag: string | undefined; modified: Date | undefined } | undefined>;
  /** Resolves with the new ETag, or undefined when the condition did not hold. */
  write(name: string, body: string, condition: Condition): Promise<string | undefined>;
  remove(name: string): Promise<void>;
}

/**
 * Build leases in a bucket: `KEY.lease` created with If-None-Match: * (one creator wins), renewed and
 * taken over with If-Match on the ETag read (one taker wins), judged stale by its Last-Modified. A
 * server that ignores conditional writes (s3rver, older MinIO) is found by the second conditional
 * create of the same lease succeeding; there the lease degrades to last-writer-wins, read back, and
 * the run says so once.
 */
export class S3Leases implements BuildLeases {
  /** Learnt at the first lease taken: whether this server refuses a conditional create of an existing object. */
  private conditional: boolean | undefined;

  constructor(
    private readonly s3: S3Access,
    private readonly reporter: Reporter,
  ) {}

  async take(key: string): Promise<LeaseAttempt> {
    const name = this.s3.prefix + leaseName(key);
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const current = await this.s3.read(name, MAX_LEASE_BYTES);
        const holder = current && parseLease(current.body);
        const me = newHolder('build');
        let etag: string | undefined;
        if (current) {
          const stale = !holder || ownerGone(holder, current.modified ?? new Date(0), Date.now(), LEASE_STALE_MS);
          if (!stale) return { kind: 'busy', holder };
          // Taken over only while it is still the stale lease read: of several waiters, one wins.
          etag = await this.put(name, me, this.conditional === false || !current.etag ? {} : { IfMatch: current.etag });
        } else {
          etag = await this.put(name, me, this.conditional === false ? {} : { IfNoneMatch: '*' });
          if (etag !== undefined && this.conditional === undefined) {
            this.conditional = (await this.put(name, me, { IfNoneMatch: '*' })) === undefined;
            if (!this.conditional) this.reporter.warn({ code: 'LEASE_BEST_EFFORT', store: this.s3.description });
          }
        }
        if (etag === undefined) continue;
        if (this.conditional !== true) {
          // Where conditions may be ignored the last writer wins: whoever's lease is there now holds it.
          const after = await this.s3.read(name, MAX_LEASE_BYTES);
          const winner = after && parseLease(after.body);
          if (winner?.nonce !== me.nonce) return { kind: 'busy', holder: winner };
          etag = after?.etag ?? etag;
        }
        return { kind: 'held', lease: this.held(key, me, etag) };
      }
      const now = await this.s3.read(name, MAX_LEASE_BYTES);
      return { kind: 'busy', holder: now && parseLease(now.body) };
    } catch (error) {
      return { kind: 'unavailable', why: describeCause(error) };
    }
  }

  async failure(key: string): Promise<BuildFailure | undefined> {
    const note = await this.s3.read(this.s3.prefix + failureName(key), MAX_LEASE_BYTES).catch(() => undefined);
    return note && parseFailure(note.body);
  }

  /** Writes a lease; undefined when the condition failed (another run holds it). */
  private put(name: string, holder: LockHolder, condition: Condition): Promise<string | undefined> {
    return this.s3.write(name, `${JSON.stringify(holder)}\n`, condition);
  }

  private held(key: string, me: LockHolder, etag: string): HeldLease {
    const name = this.s3.prefix + leaseName(key);
    let current: string | undefined = etag;
    // Renewed while it is still ours; a renewal refused means another run took it over (this one stalled).
    const renew = setInterval(() => {
      if (current === undefined) return;
      this.put(name, me, this.conditional && current ? { IfMatch: current } : {}).then(
        (next) => {
          current = next;
        },
        () => undefined,
      );
    }, LEASE_RENEW_MS);
    renew.unref();
    return {
      release: async (failure) => {
        clearInterval(renew);
        const failureObject = this.s3.prefix + failureName(key);
        if (failure) {
          const note: BuildFailure = { holder: leaseHolder(me), at: new Date().toISOString(), ...failure };
          await this.s3.write(failureObject, `${JSON.stringify(note, null, 2)}\n`, {}).catch(() => undefined);
        } else {
          await this.s3.remove(failureObject).catch(() => undefined);
        }
        const there = await this.s3.read(name, MAX_LEASE_BYTES).catch(() => undefined);
        if (there && parseLease(there.body)?.nonce === me.nonce) await this.s3.remove(name).catch(() => undefined);
      },
    };
  }
}
