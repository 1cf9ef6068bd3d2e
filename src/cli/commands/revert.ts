import path from 'node:path';
import { EXIT, TerrariumError } from '../../errors.js';
import { isEnvironment, revertTarget } from '../../install/swap.js';
import { lockTarget } from '../../install/target-lock.js';
import type { CommandHandler } from '../context.js';
import { requireTarget } from '../options.js';

export const revertCommand: CommandHandler = async ({ settings, context, reporter }) => {
  const target = requireTarget(settings);
  if (settings.backupSuffix === undefined) {
    throw new TerrariumError('USAGE', 'revert needs a backup, and --no-backup was given', { hint: 'drop --no-backup' });
  }
  const backup = target + settings.backupSuffix;
  const lock = await lockTarget(target, {
    command: 'revert',
    lockTimeoutSeconds: settings.lockTimeoutSeconds,
    backupSuffix: settings.backupSuffix,
    signal: context.signal,
    reporter,
  });
  try {
    // Either environment's own python can run the atomic exchange; no interpreter lookup needed.
    const python = (await isEnvironment(target)) ? path.join(target, 'bin', 'python') : path.join(backup, 'bin', 'python');
    await revertTarget(target, backup, python);
  } finally {
    await lock.release();
  }
  reporter.info(`reverted ${target} to its backup (the replaced environment is now ${backup})`);
  return EXIT.ok;
};
