import { EXIT, TerrariumError, describeCause } from '../../errors.js';
import { formatBytes } from '../../report/format.js';
import { describeSignature } from '../../sign/archive-signature.js';
import { configureStores, lookupOrder } from '../../install/configure-stores.js';
import { type ArchiveRecord, type Store, isWritable } from '../../stores/store.js';
import { describePlatform } from '../../stores/variants.js';
import type { CommandHandler, CommandInput } from '../context.js';
import { parseDuration, parseNonNegative } from '../units.js';

function configured({ settings, reporter }: CommandInput): Store[] {
  const all = lookupOrder(configureStores(settings.storage, reporter));
  if (!all.length)
    throw new TerrariumError('USAGE', 'no store configured', { hint: 'pass --storage-dir, --s3-bucket or --storage-url (or their environment variables)' });
  return all;
}

const newestFirst = (a: ArchiveRecord, b: ArchiveRecord) => b.created.localeCompare(a.created);

/** `terrarium ls`: every archive in every configured store, newest first. */
export const lsCommand: CommandHandler = async (input) => {
  const { reporter, settings } = input;
  let status: number = EXIT.ok;
  const listed: Array<{ store: string; archives: Array<ArchiveRecord & { signedBy: string | null }> } | { store: string; error: string }> = [];
  for (const store of configured(input)) {
    if (!isWritable(store)) {
      // Plain HTTP has no listing: said, not an error (the store behind it can be listed).
      const why = 'cannot be listed: plain HTTP has no listing (list the storage directory or bucket behind it)';
      reporter.warn(`${store.description} ${why}`);
      listed.push({ store: store.description, error: why });
      continue;
    }
    let records: ArchiveRecord[];
    try {
      records = (await store.list()).sort(newestFirst);
    } catch (error) {
      reporter.warn(`${store.description}: ${describeCause(error)}`);
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
        `  ${r.key.padEnd(width)}  ${formatBytes(r.size).padStart(10)}  ${r.created}${r.platform ? `  ${describePlatform(r.platform)}` : ''}${r.layers ? `  ${r.layers.length} layers` : ''}${r.signedBy ? `  signed by ${r.signedBy}` : ''}`,
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
  const options = input.options as { olderThan?: string; keep?: string; layerGrace: string; dryRun?: boolean };
  if ((options.olderThan === undefined) === (options.keep === undefined)) {
    throw new TerrariumError('USAGE', 'prune needs exactly one of --older-than and --keep', {
      hint: 'for example: terrarium prune --older-than 30d, or --keep 20',
    });
  }
  const cutoff = options.olderThan === undefined ? undefined : Date.now() - parseDuration(options.olderThan, '--older-than');
  const keep = options.keep === undefined ? undefined : parseNonNegative(options.keep, '--keep', true);
  const grace = parseDuration(options.layerGrace, '--layer-grace');
  const stores = configureStores(settings.storage, reporter).stores.filter(isWritable);
  if (!stores.length)
    throw new TerrariumError('USAGE', 'no writable store named', {
      hint: 'pass --storage-dir or --s3-bucket (prune never deletes from the cache: use terrarium cache prune)',
    });
  const verb = options.dryRun ? 'would delete' : 'deleted';
  if (options.dryRun) reporter.info(`would look in ${stores.map((store) => store.description).join(', ')} and nowhere else`);
  const deleted: Array<{ store: string; key: string; size: number; created: string }> = [];
  const layers: Array<{ store: string; sha256: string; size: number }> = [];
  for (const store of stores) {
    const records = (await store.list()).sort(newestFirst);
    const doomed = records.filter((r, index) => (cutoff !== undefined ? Date.parse(r.created) < cutoff : index >= keep!));
    for (const record of doomed) {
      if (!options.dryRun) await store.discard(record);
      deleted.push({ store: store.description, key: record.key, size: record.size, created: record.created });
      if (!settings.json) reporter.result(`${verb} ${record.key} (${formatBytes(record.size)}, ${record.created}) from ${store.description}`);
    }
    // Mark: the layers of every archive left (read again: a publisher may have added one meanwhile); sweep the rest.
    const left = options.dryRun ? records.filter((r) => !doomed.includes(r)) : await store.list();
    const referenced = new Set(left.flatMap((r) => r.layers?.map((layer) => layer.sha256) ?? []));
    for (const blob of await store.sweep(referenced, grace, options.dryRun)) {
      layers.push({ store: store.description, ...blob });
      if (!settings.json)
        reporter.result(`${verb} layer ${blob.sha256.slice(0, 16)} (${formatBytes(blob.size)}) from ${store.description}: no archive names it`);
    }
  }
  if (settings.json) reporter.document({ ok: true, dryRun: options.dryRun ?? false, deleted, layers });
  else
    reporter.info(
      `${verb} ${deleted.length} archive${deleted.length === 1 ? '' : 's'}${layers.length ? ` and ${layers.length} layer${layers.length === 1 ? '' : 's'} (${formatBytes(layers.reduce((sum, l) => sum + l.size, 0))})` : ''}`,
    );
  return EXIT.ok;
};
