import { EXIT } from '../../errors.js';
import { resolveKey } from '../../install/key.js';
import { configureStores, describeStores, lookupOrder } from '../../stores/configure.js';
import type { CommandHandler } from '../context.js';

export const existsCommand: CommandHandler = async ({ settings, files, context, reporter }) => {
  const { key } = await resolveKey({ ...settings, requirementFiles: files, cwd: context.cwd, env: context.env });
  const searched = lookupOrder(configureStores(settings.storage, reporter));
  const answer = (store: string | undefined) => {
    if (settings.json) reporter.document({ key, stored: store !== undefined, store: store ?? null, searched: searched.map((s) => s.description) });
    return store === undefined ? EXIT.notStored : EXIT.ok;
  };
  for (const store of searched) {
    if (await store.lookup(key)) {
      reporter.detail(`${key} is in ${store.description}`);
      return answer(store.description);
    }
  }
  reporter.detail(`${key} is not in ${describeStores(searched)}`);
  return answer(undefined);
};
