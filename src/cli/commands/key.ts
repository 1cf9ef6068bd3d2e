import { EXIT } from '../../errors.js';
import { digestOf, resolveKey } from '../../install/key.js';
import { lookupOrder } from '../../stores/configure.js';
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

export const existsCommand: CommandHandler = async ({ settings, stores, files, context, reporter }) => {
  const { key } = await resolveKey({ ...settings, requirementFiles: files, cwd: context.cwd, env: context.env });
  const searched = lookupOrder(stores);
  for (const store of searched) {
    if (await store.lookup(key)) {
      reporter.detail(`${key} is in ${store.description}`);
      return EXIT.ok;
    }
  }
  reporter.detail(`${key} is not in ${searched.map((s) => s.description).join(', ') || 'any store (none configured)'}`);
  return EXIT.notStored;
};
