import { EXIT } from '../../errors.js';
import { digestOf, resolveKey } from '../../install/key.js';
import type { CommandHandler } from '../context.js';

export const keyCommand: CommandHandler = async ({ settings, files, context, reporter }) => {
  const { key } = await resolveKey({ ...settings, requirementFiles: files, cwd: context.cwd, env: context.env });
  reporter.result(key);
  return EXIT.ok;
};

export const hashCommand: CommandHandler = async ({ settings, files, context, reporter }) => {
  reporter.result(digestOf({ ...settings, requirementFiles: files, cwd: context.cwd }).digest);
  return EXIT.ok;
};
