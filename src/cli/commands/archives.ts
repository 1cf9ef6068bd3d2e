import { describeCause, EXIT, TerrariumError } from '../../errors.js';
import { configureStores, lookupOrder, STORE_OPTIONS } from '../../install/configure-stores.js';
import { formatBytes } from '../../report/format.js';
import { UNLISTABLE } from '../../report/words.js';
import { describeSignature } from '../../sign/archive-signature.js';
import { newestFirst, type PruneRule, pruneStore } from '../../stores/prune.js';
import { type ArchiveRecord, isWritable, type Store } from '../../stores/store.js';
import { describePlatform } from '../../stores/variants.js';
import type { CommandHandler, CommandInput } from '../context.js';

function configured({ settings, reporter }: CommandInput): Store[] {
  const all = lookupOrder(configureStores(settings.storage, reporter));
  if (!all.length)
    throw new TerrariumError('USAGE', 'no store configured', {
      hint: `pass ${STORE_OPTIONS} (or their environment variables)`,
    });
  return all;
}

/** `terrarium ls`: every archive in every configured store, newest first. */
export const lsCommand: CommandHandler = async (input) => {
  const { reporter, settings } = input;
  let status: number = EXIT.ok;
  const listed: Array<{ store: string; archives: Array<ArchiveRecord & { signedBy: string | null }> } | { store: string; error: string }> = [];
  for (const store of configured(input)) {
    if (!isWritable(store)) {
      // Plain HTTP has no listing: said, not an error (the store behind it can be listed).
      reporter.warn({ code: 'STORE_NOT_LISTED', store: store.description, cause: undefined });
      listed.push({ store: store.description, error: UNLISTABLE });
      continue;
    }
    let records: ArchiveRecord[];
    try {
      records = (await store.list()).sort(newestFirst);
    } catch (error) {
      reporter.warn({ code: 'STORE_NOT_LISTED', store: store.description, cause: describeCause(error) });
      listed.push({ store: store.description, error: describeCause(error) });
      status = EXIT.storage;
      continue;
    }
    const archives = [];
    for (const record of records)
      archives.push({ ...record, signedBy: describeSignature(await store.signature(record).catch(() => undefined))?.keyId ?? null });
    listed.push({ store: store.description, archives });
    if (settings.json) continue;
    reporter.result(
      `${store.description} (${records.length} archive${records.length === 1 ? '' : 's'}, ${formatBytes(records.reduce((sum, r) => sum + r.size, 0))})`,
    );
    const width = Math.max(0, ...records.map((r) => r.key.length));
    for (const r of archives)
      reporter.result(
        `  ${r.key.padEnd(width)}  ${formatBytes(r.size).padStart(10)}  ${r.created}${r.platform ? `  ${describePlatform(r.platform)}` : ''}${r.layers ? `  ${r.layers.length} layers` : ''}${r.portable ? `  carries ${r.portable.interpreter}` : ''}${r.signedBy ? `  signed by ${r.signedBy}` : ''}`,
      );
  }
  if (settings.json) reporter.document({ stores: listed });
  return status;
};

/**
 * `terrarium prune`: deletes archives older than a duration, or all but the newest N, from the writable
 * stores the user named (a storage directory, a bucket). The local cache has its own `cache prune`.
 */
export const pruneCommand: CommandHandler = async (input) => {
  const { reporter, settings } = input;
  const options = input.commandOptions('prune');
  if ((options.olderThan === undefined) === (options.keep === undefined)) {
    throw new TerrariumError('USAGE', 'prune needs exactly one of --older-than and --keep', {
      hint: 'for example: terrarium prune --older-than 30d, or --keep 20',
    });
  }
  const rule: PruneRule = options.olderThan !== undefined ? { cutoff: Date.now() - options.olderThan } : { keep: options.keep! };
  const graceMs = options.layerGrace;
  const stores = configureStores(settings.storage, reporter).stores.filter(isWritable);
  if (!stores.length)
    throw new TerrariumError('USAGE', 'no writable store named', {
      hint: 'pass --storage-dir, --s3-bucket or --oci-repository (prune never deletes from the cache: use terrarium cache prune)',
    });
  const verb = options.dryRun ? 'would delete' : 'deleted';
  if (options.dryRun) reporter.info(`would look in ${stores.map((store) => store.description).join(', ')} and nowhere else`);
  const deleted: Array<{ store: string; key: string; size: number; created: string }> = [];
  const layers: Array<{ store: string; sha256: string; size: number }> = [];
  const notes: Array<{ store: string; name: string }> = [];
  for (const store of stores) {
    const pruned = await pruneStore(store, rule, { graceMs, dryRun: options.dryRun });
    const from = store.description;
    deleted.push(...pruned.archives.map((r) => ({ store: from, key: r.key, size: r.size, created: r.created })));
    layers.push(...pruned.layers.map((blob) => ({ store: from, ...blob })));
    notes.push(...pruned.notes.map((name) => ({ store: from, name })));
    if (settings.json) continue;
    for (const r of pruned.archives) reporter.result(`${verb} ${r.key} (${formatBytes(r.size)}, ${r.created}) from ${from}`);
    for (const blob of pruned.layers)
      reporter.result(`${verb} layer ${blob.sha256.slice(0, 16)} (${formatBytes(blob.size)}) from ${from}: no archive names it`);
    for (const name of pruned.notes) reporter.result(`${verb} ${name} from ${from}: left by a build long over`);
  }
  if (settings.json) reporter.document({ ok: true, dryRun: options.dryRun, deleted, layers, notes });
  else
    reporter.info(
      `${verb} ${deleted.length} archive${deleted.length === 1 ? '' : 's'}${layers.length ? ` and ${layers.length} layer${layers.length === 1 ? '' : 's'} (${formatBytes(layers.reduce((sum, l) => sum + l.size, 0))})` : ''}${notes.length ? `, and ${notes.length} lease${notes.length === 1 ? '' : 's'} or failure note${notes.length === 1 ? '' : 's'}` : ''}`,
    );
  return EXIT.ok;
};
