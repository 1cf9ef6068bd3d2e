import { promises as fs } from 'node:fs';
import path from 'node:path';
import { TerrariumError, describeCause, isErrno } from '../errors.js';
import { pathKind, removeTree, siblingPath } from '../io/fs.js';

export interface Swap {
  /** Drops what the swap displaced when no backup is kept. */
  commit(): Promise<void>;
  /** Puts the previous environment back (when the new one fails its check in place). */
  rollback(): Promise<void>;
}

export async function isEnvironment(dir: string): Promise<boolean> {
  return (await pathKind(path.join(dir, 'pyvenv.cfg'))) === 'file';
}

/** Refuses targets whose replacement would lose something that is not an environment. */
export async function checkTarget(target: string, force: boolean): Promise<void> {
  const kind = await pathKind(target);
  if (kind === 'missing') return;
  if (kind !== 'directory') {
    throw new TerrariumError('TARGET_IS_FILE', `target ${target} exists and is not a directory`, {
      hint: 'choose another --target, or remove that file',
    });
  }
  if (force || (await isEnvironment(target)) || (await fs.readdir(target)).length === 0) return;
  throw new TerrariumError('TARGET_NOT_ENV', `target ${target} is a directory with files but not a Python environment`, {
    hint: 'choose another --target, or pass --force to replace it (it is kept as the backup unless --no-backup)',
  });
}

/**
 * Moves `staging` to `target`. The old target becomes `backup` (an older backup is dropped) or, without
 * a backup, is set aside until commit. Every step is a rename within one directory, so an activated
 * shell's PATH (which names TARGET/bin) finds the new environment at once.
 */
export async function swapIn(staging: string, target: string, backup: string | undefined): Promise<Swap> {
  const hadTarget = (await pathKind(target)) !== 'missing';
  const oldBackup = backup && (await pathKind(backup)) !== 'missing' ? siblingPath(backup, 'trash') : undefined;
  const displaced = hadTarget ? (backup ?? siblingPath(target, 'trash')) : undefined;
  try {
    if (oldBackup) await fs.rename(backup!, oldBackup);
    if (displaced) await fs.rename(target, displaced);
    await fs.rename(staging, target);
  } catch (error) {
    if (displaced && (await pathKind(target)) === 'missing') await fs.rename(displaced, target).catch(() => undefined);
    if (oldBackup) await fs.rename(oldBackup, backup!).catch(() => undefined);
    throw new TerrariumError('TARGET_UNWRITABLE', `cannot move the new environment to ${target}: ${describeCause(error)}`, {
      hint: `check the permissions of ${path.dirname(target)}`,
    });
  }
  return {
    commit: async () => {
      if (oldBackup) await removeTree(oldBackup);
      if (displaced && !backup) await removeTree(displaced);
    },
    rollback: async () => {
      const failed = siblingPath(target, 'trash');
      await fs.rename(target, failed);
      if (displaced) await fs.rename(displaced, target);
      if (oldBackup) await fs.rename(oldBackup, backup!);
      await removeTree(failed);
    },
  };
}

/** Exchanges target and backup, so that a second revert undoes the first. */
export async function revertTarget(target: string, backup: string): Promise<void> {
  if ((await pathKind(backup)) !== 'directory') {
    throw new TerrariumError('NO_BACKUP', `no backup to revert to: ${backup} does not exist`, {
      hint: 'a backup is made when install replaces an environment (unless --no-backup)',
    });
  }
  try {
    if ((await pathKind(target)) === 'missing') {
      await fs.rename(backup, target);
      return;
    }
    const aside = siblingPath(target, 'revert');
    await fs.rename(target, aside);
    await fs.rename(backup, target);
    await fs.rename(aside, backup);
  } catch (error) {
    if (isErrno(error, 'EACCES', 'EPERM', 'EROFS')) {
      throw new TerrariumError('TARGET_UNWRITABLE', `cannot revert ${target}: ${describeCause(error)}`, {
        hint: `check the permissions of ${path.dirname(target)}`,
      });
    }
    throw error;
  }
}
