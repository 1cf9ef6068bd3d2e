import path from 'node:path';
import { TerrariumError } from '../errors.js';
import { isEnvironment, revertTarget } from './swap.js';
import { lockTarget, type TargetLockOptions } from './target-lock.js';

/** What `revert` did: the backup is now the target, and the environment it replaced is the backup. */
export interface Reverted {
  target: string;
  backup: string;
}

/** Swaps `target` with its backup under the target's lock; a second revert undoes the first. */
export async function revert(target: string, options: Omit<TargetLockOptions, 'command'>): Promise<Reverted> {
  if (options.backupSuffix === undefined) {
    throw new TerrariumError('USAGE', 'revert needs a backup, and --no-backup was given', { hint: 'drop --no-backup' });
  }
  const backup = target + options.backupSuffix;
  const lock = await lockTarget(target, { ...options, command: 'revert' });
  try {
    // Either environment's own python can run the atomic exchange; no interpreter lookup needed.
    const python = (await isEnvironment(target)) ? path.join(target, 'bin', 'python') : path.join(backup, 'bin', 'python');
    await revertTarget(target, backup, python);
  } finally {
    await lock.release();
  }
  return { target, backup };
}
