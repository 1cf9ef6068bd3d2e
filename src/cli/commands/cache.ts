import type { CacheEntry } from '../../cache/eviction.js';
import { LocalCache } from '../../cache/local-cache.js';
import { verifyCache } from '../../cache/verify.js';
import { EXIT, TerrariumError } from '../../errors.js';
import { formatBytes } from '../../report/format.js';
import type { CommandHandler, CommandInput } from '../context.js';

/** The cache these settings name; none of the cache commands ever touches a store. */
function localCache({ settings }: CommandInput): LocalCache {
  const dir = settings.storage.cacheDir;
  if (!dir) throw new TerrariumError('USAGE', 'no cache here (--no-cache, or no home directory for one)', { hint: 'pass --cache-dir DIR' });
  return new LocalCache(dir, undefined);
}

const describeEntry = (entry: CacheEntry) => `${entry.kind.padEnd(13)}  ${entry.key}  ${formatBytes(entry.bytes)}`;
const asJson = (entry: CacheEntry) => ({ key: entry.key, kind: entry.kind, bytes: entry.bytes, lastUsed: new Date(entry.used).toISOString() });

/** `terrarium cache dir`: the cache directory this run would use. */
export const cacheDirCommand: CommandHandler = async ({ settings, reporter }) => {
  const dir = settings.storage.cacheDir ?? null;
  if (settings.json) reporter.document({ cacheDir: dir });
  else if (dir) reporter.result(dir);
  else reporter.info('no cache (--no-cache, or no home directory for one)');
  return EXIT.ok;
};

/** `terrarium cache ls`: every archive and unpacked copy kept, most recently used first. */
export const cacheLsCommand: CommandHandler = async (input) => {
  const cache = localCache(input);
  const entries = (await cache.entries()).sort((a, b) => b.used - a.used);
  if (input.settings.json) input.reporter.document({ cacheDir: cache.dir, entries: entries.map(asJson) });
  else {
    for (const entry of entries) input.reporter.result(`${describeEntry(entry)}  last used ${new Date(entry.used).toISOString()}`);
    input.reporter.info(`${cache.dir}: ${entries.length} kept, ${formatBytes(entries.reduce((sum, e) => sum + e.bytes, 0))}`);
  }
  return EXIT.ok;
};

function reportDropped(input: CommandInput, dir: string, dropped: CacheEntry[], verb: string): void {
  if (input.settings.json) input.reporter.document({ cacheDir: dir, dryRun: verb !== 'removed', removed: dropped.map(asJson) });
  else {
    for (const entry of dropped) input.reporter.result(`${verb} ${describeEntry(entry)}`);
    input.reporter.info(`${verb} ${dropped.length} from ${dir}, ${formatBytes(dropped.reduce((sum, e) => sum + e.bytes, 0))}`);
  }
}

/** `terrarium cache clean [KEY...]`: removes those keys' archives and copies, or everything. */
export const cacheCleanCommand: CommandHandler = async (input) => {
  const cache = localCache(input);
  reportDropped(input, cache.dir, await cache.clean(input.files), 'removed');
  return EXIT.ok;
};

/** `terrarium cache prune --max-size SIZE | --older-than DURATION [--dry-run]`. */
export const cachePruneCommand: CommandHandler = async (input) => {
  const options = input.commandOptions('cache prune');
  if (options.maxSize === undefined && options.olderThan === undefined) {
    throw new TerrariumError('USAGE', 'cache prune needs --max-size or --older-than', { hint: 'for example: terrarium cache prune --max-size 5G' });
  }
  const cache = localCache(input);
  const rule = {
    maxBytes: options.maxSize,
    unusedSince: options.olderThan === undefined ? undefined : Date.now() - options.olderThan,
  };
  reportDropped(input, cache.dir, await cache.prune(rule, options.dryRun), options.dryRun ? 'would remove' : 'removed');
  return EXIT.ok;
};

/** `terrarium cache verify`: checks everything in the local cache, drops what differs from what was written. */
export const cacheVerifyCommand: CommandHandler = async (input) => {
  const { settings, context, reporter } = input;
  const cache = localCache(input);
  const checks = await verifyCache(cache, context.signal);
  const dropped = checks.filter((check) => check.problem);
  if (settings.json) {
    reporter.document({ cacheDir: cache.dir, checked: checks.map((c) => ({ key: c.key, kind: c.kind, ok: !c.problem, problem: c.problem ?? null })) });
  } else {
    for (const check of checks)
      reporter.result(`${check.problem ? 'dropped' : 'ok     '}  ${check.kind.padEnd(13)}  ${check.key}${check.problem ? `: ${check.problem}` : ''}`);
    reporter.info(`${cache.dir}: ${checks.length} checked, ${dropped.length} dropped`);
  }
  // Something was wrong (and is gone now): a CI step can tell.
  return dropped.length ? EXIT.archive : EXIT.ok;
};
