import path from 'node:path';
import { describeCause, TerrariumError } from '../errors.js';
import { removeLeftovers } from '../io/leftovers.js';
import { acquireLock, type Lock, type LockHolder, LockLost, LockTimeout } from '../io/lock.js';
import { HOST_TAG } from '../io/owner.js';
import type { HolderFacts } from '../report/events.js';
import type { Reporter } from '../report/reporter.js';
import { describeLockHolder } from '../report/words.js';
import { journalPath, recoverInterruptedSwap } from './swap.js';

export interface TargetLockOptions {
  /** What this run does, shown to a run that waits for it. */
  command: string;
  lockTimeoutSeconds: number;
  backupSuffix: string | undefined;
  signal?: AbortSignal | undefined;
  reporter: Reporter;
}

function lockPath(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.lock`);
}

/**
 * Makes this run the only one working on `target` (a second one waits up to --lock-timeout), then
 * puts back whatever a killed run left half-done and removes its staging and temporary files, so the
 * work starts from a complete environment (or none).
 */
export async function lockTarget(target: string, options: TargetLockOptions): Promise<Lock> {
  const { reporter } = options;
  const file = lockPath(target);
  let lock: Lock;
  try {
    lock = await acquireLock(file, {
      command: options.command,
      timeoutMs: options.lockTimeoutSeconds * 1000,
      signal: options.signal,
      onWait: (holder) => reporter.info({ code: 'TARGET_WAITING', target, holder: holderFacts(holder), seconds: options.lockTimeoutSeconds }),
    });
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (error instanceof LockTimeout) {
      throw new TerrariumError('TARGET_LOCKED', `${target} is still locked by ${describeHolder(error.holder)} after ${options.lockTimeoutSeconds} s`, {
        hint: `wait for it to finish or raise --lock-timeout; if no terrarium is running there, delete ${file}`,
      });
    }
    throw new TerrariumError('TARGET_UNWRITABLE', `cannot lock ${target} (${file}): ${describeCause(error)}`, {
      hint: `check that you can write to ${path.dirname(target)}`,
    });
  }
  const held = lock;
  lock = {
    holder: held.holder,
    release: () => held.release(),
    assertHeld: () =>
      held.assertHeld().catch((error: unknown) => {
        if (!(error instanceof LockLost)) throw error;
        throw new TerrariumError(
          'TARGET_LOCKED',
          `lost the lock on ${target} to ${describeHolder(error.holder)} while working (this run stalled for over a minute?); ${target} was not changed by this run`,
          {
            hint: 'let that run finish, then run again if it did not install what you need',
          },
        );
      }),
  };
  try {
    const recovered = await recoverInterruptedSwap(target);
    if (recovered) reporter.warn(recovered);
    const base = path.basename(target);
    // The lock's own temporary file (a run killed while taking the lock leaves it) is named after the lock file.
    const owners = [base, path.basename(lockPath(target)), path.basename(journalPath(target))];
    if (options.backupSuffix !== undefined) owners.push(base + options.backupSuffix);
    const removed = await removeLeftovers(path.dirname(target), owners);
    if (removed.length) reporter.detail({ code: 'LEFTOVERS_REMOVED', names: removed });
  } catch (error) {
    await lock.release();
    throw error;
  }
  return lock;
}

/** A lock's holder as the report names it: on this host, or on another by its name (its tag, in locks that carry no name). */
function holderFacts(holder: LockHolder | undefined): HolderFacts | undefined {
  return holder && { ...holder, hostname: holder.hostname ?? holder.host, thisHost: holder.host === HOST_TAG };
}

const describeHolder = (holder: LockHolder | undefined) => describeLockHolder(holderFacts(holder));
