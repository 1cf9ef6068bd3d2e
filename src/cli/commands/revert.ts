import { EXIT } from '../../errors.js';
import { revert } from '../../target/revert.js';
import type { CommandHandler } from '../context.js';
import { requireTarget } from '../options.js';

export const revertCommand: CommandHandler = async ({ settings, context, reporter }) => {
  const { target, backup } = await revert(requireTarget(settings), { ...settings, signal: context.signal, reporter });
  if (settings.json) reporter.document({ ok: true, target, backup });
  else reporter.info(`reverted ${target} to its backup (the replaced environment is now ${backup})`);
  return EXIT.ok;
};
