import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describeCause } from '../errors.js';
import { readBoundedSync, writeFileAtomic } from '../io/fs.js';
import { acquireLock, LockTimeout } from '../io/lock.js';
import { type BuildFailure, type BuildLeases, failureName, type LeaseAttempt, leaseHolder, leaseName, parseFailure } from './lease.js';

const MAX_FAILURE_BYTES = 8 << 10;

/**
 * Build leases in a storage directory: the lease is a lock file taken with link(2), renewed by its
 * mtime and broken when stale, exactly as a target's lock is (io/lock.ts), so that it works on NFS and
 * across hosts; a failed build leaves `KEY.build-failed` beside it.
 */
export class DirectoryLeases implements BuildLeases {
  constructor(private readonly root: string) {}

  async take(key: string): Promise<LeaseAttempt> {
    try {
      // The first build into a new storage directory makes it (and a key with `/`, its folder).
      const file = path.join(this.root, leaseName(key));
      await fs.mkdir(path.dirname(file), { recursive: true });
      const lock = await acquireLock(file, { command: 'build', timeoutMs: 0 });
      return {
        kind: 'held',
        lease: {
          release: async (failure) => {
            try {
              if (failure) await this.writeFailure(key, { holder: leaseHolder(lock.holder), at: new Date().toISOString(), ...failure });
              else await fs.rm(this.failurePath(key), { force: true });
            } finally {
              await lock.release();
            }
          },
        },
      };
    } catch (error) {
      if (error instanceof LockTimeout) return { kind: 'busy', holder: error.holder && leaseHolder(error.holder) };
      // Read-only, full, denied, or something planted that cannot be broken (a directory): the lease is
      // advice, so the run builds without one rather than fail.
      return { kind: 'unavailable', why: describeCause(error) };
    }
  }

  async failure(key: string): Promise<BuildFailure | undefined> {
    try {
      return parseFailure(readBoundedSync(this.failurePath(key), MAX_FAILURE_BYTES).toString('utf8'));
    } catch {
      // Missing, unreadable or not a file: no failure to report.
      return undefined;
    }
  }

  private failurePath(key: string): string {
    return path.join(this.root, failureName(key));
  }

  private async writeFailure(key: string, note: BuildFailure): Promise<void> {
    await writeFileAtomic(this.failurePath(key), `${JSON.stringify(note, null, 2)}\n`, { durable: false });
  }
}
