import { EXIT, TerrariumError } from '../../errors.js';
import { revertTarget } from '../../install/swap.js';
import type { CommandHandler } from '../context.js';
import { requireTarget } from '../options.js';

export const revertCommand: CommandHandler = async ({ settings, reporter }) => {
  const target = requireTarget(settings);
  if (settings.backupSuffix === undefined) {
    throw new TerrariumError('USAGE', 'revert needs a backup, and --no-backup was given', { hint: 'drop --no-backup' });
  }
  await revertTarget(target, target + settings.backupSuffix);
  reporter.info(`reverted ${target} to its backup (the replaced environment is now ${target + settings.backupSuffix})`);
  return EXIT.ok;
};
