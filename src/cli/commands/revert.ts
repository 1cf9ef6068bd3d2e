import { EXIT, TerrariumError } from '../../errors.js';
import { revertTarget } from '../../install/swap.js';
import { lockTarget } from '../../install/target-lock.js';
import type { CommandHandler } from '../context.js';
import { requireTarget } from '../options.js';

export const revertCommand: CommandHandler = async ({ settings, context, reporter }) => {
  const target = requireTarget(settings);
  if (settings.backupSuffix === undefined) {
    throw new TerrariumError('USAGE', 'revert needs a backup, and --no-backup was given', { hint: 'drop --no-backup' });
  }
  const backup = target + settings.backupSuffix;
  const lock = await lockTarget(target, { command: 'revert', lockTimeoutSeconds: settings.lockTimeoutSeconds, backupSuffix: settings.backupSuffix, signal: context.signal, reporter });
  try {
    await revertTarget(target, backup);
  } finally {
    await lock.release();
  }
  reporter.info(`reverted ${target} to its backup (the replaced environment is now ${backup})`);
  return EXIT.ok;
};
