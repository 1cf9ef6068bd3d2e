import { describeCause, EXIT } from '../../errors.js';
import { configureStores, describeStores, lookupOrder, STORE_OPTIONS } from '../../install/configure-stores.js';
import { resolveKey } from '../../key/resolve.js';
import { platformOf } from '../../python/fingerprint.js';
import { machineFacts } from '../../python/libraries.js';
import { loadTrustedKeys } from '../../sign/archive-signature.js';
import { acceptStored } from '../../stores/acceptance.js';
import { chooseCarried } from '../../stores/variants.js';
import type { CommandHandler } from '../context.js';

/** `terrarium exists`: exit 0 when a store holds an archive for the key that an install here would take (signed by a trusted key, with --trust-key). */
export const existsCommand: CommandHandler = async ({ settings, files, context, reporter }) => {
  const trusted = loadTrustedKeys(settings.trustKeys, context.cwd);
  const { key, python, portable } = await resolveKey({ ...settings, requirementFiles: files, cwd: context.cwd, env: context.env });
  const machine = portable ? await machineFacts(context.env) : undefined;
  const configured = configureStores(settings.storage, reporter);
  const searched = lookupOrder(configured);
  const answer = (store: string | undefined) => {
    if (settings.json) reporter.document({ key, stored: store !== undefined, store: store ?? null, searched: searched.map((s) => s.description) });
    return store === undefined ? EXIT.notStored : EXIT.ok;
  };
  for (const store of searched) {
    const record = machine ? chooseCarried(await store.archives(key), machine) : await store.lookup(key, platformOf(python!));
    if (!record) continue;
    try {
      await acceptStored(store, record, trusted);
    } catch (error) {
      reporter.detail(`${key} is in ${store.description}, but ${describeCause(error)}`);
      continue;
    }
    reporter.detail(`${key} is in ${store.description}`);
    return answer(store.description);
  }
  // Without a store, "not stored" would only say that this machine's cache lacks it: worth saying always.
  if (!configured.stores.length)
    reporter.info(`${key} is not stored: no store is configured${searched.length ? ' (the local cache was searched)' : ''}; pass ${STORE_OPTIONS}`);
  else reporter.detail(`${key} is not in ${describeStores(searched)}`);
  return answer(undefined);
};
