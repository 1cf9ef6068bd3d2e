import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { isErrno } from '../errors.js';

/** Who made a lock or a temporary name: enough to tell, later, whether that process is still alive. */
export interface Owner {
  /** A short hash of the host name: a pid means something only on its own host. */
  host: string;
  pid: number;
}

export const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

export const SELF: Owner = { host: HOST_TAG, pid: process.pid };

/**
 * Files another host left can only be judged by age (its pids mean nothing here); they are kept this
 * long after their last change, far beyond any step that leaves a file untouched (a lock's heartbeat,
 * a stalled upload).
 */
const FOREIGN_STALE_MS = 60 * 60 * 1000;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return !isErrno(error, 'ESRCH');
  }
}

/** True when the process that owns something is gone, so its leftovers can be taken over or removed. */
export function ownerGone(owner: Owner, lastChange: Date, now = Date.now(), staleMs = FOREIGN_STALE_MS): boolean {
  if (owner.host === HOST_TAG) return owner.pid !== process.pid && !processAlive(owner.pid);
  return now - lastChange.getTime() > staleMs;
}
