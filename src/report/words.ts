import type { HolderFacts, OutsidePath, ReportEvent } from './events.js';
import { formatBytes, formatCount } from './format.js';

/** "terrarium install (pid 42 on this host, since …)": who holds a target's lock. */
export function describeLockHolder(holder: HolderFacts | undefined): string {
  if (!holder) return 'an unknown process';
  const where = holder.thisHost ? 'this host' : `another host (${holder.hostname})`;
  return `terrarium ${holder.command} (pid ${holder.pid} on ${where}, since ${holder.since})`;
}

/** "builder-1 (pid 42)": who holds a build lease. */
export function describeLeaseHolder(holder: HolderFacts | undefined): string {
  return holder ? `${holder.hostname} (pid ${holder.pid})` : 'another runner';
}

/** "a symlink (FILE -> TARGET)", "PACKAGE (FILE names TARGET)": a path outside an environment. */
export function describeOutsidePath(outside: OutsidePath): string {
  return outside.link
    ? `a symlink (${outside.file} -> ${outside.target})`
    : `${outside.distribution ?? 'an unknown package'} (${outside.file} names ${outside.target})`;
}

/** " since 10:04:05": when a lease's holder started, where it said. */
function since(holder: HolderFacts | undefined): string {
  const at = holder && Date.parse(holder.since);
  return at ? ` since ${new Date(at).toTimeString().slice(0, 8)}` : '';
}

/** Why an HTTP store is not listed, in ls's warning and its --json. */
export const UNLISTABLE = 'cannot be listed: plain HTTP has no listing (list the storage directory or bucket behind it)';

const REMOVAL = { removed: ' (removed from the store)', 'read-only': ' (left in place: terrarium does not write to this store)' };

type Words = { [C in ReportEvent['code']]: (event: Extract<ReportEvent, { code: C }>) => string };

/** The words of each event, by its code: the one place that makes them. */
const WORDS: Words = {
  STORE_LOOKUP: (event) => `${event.store}: ${event.size === undefined ? `no ${event.key}` : `found ${event.key} (${event.size} bytes)`}`,
  OTHER_PLATFORM_ONLY: (event) => `${event.store} holds ${event.key} for ${event.platform} only, which cannot run here`,
  STORE_UNREACHABLE: (event) => `${event.cause}; going on without ${event.store}`,
  ARCHIVE_REFUSED: (event) => {
    const removal = event.removal === 'failed' ? ` (could not remove it: ${event.removalCause})` : event.removal ? REMOVAL[event.removal] : '';
    return `${event.store}: archive ${event.key} ${event.untrusted ? 'was' : 'is unusable:'} ${event.cause}${removal}`;
  },
  BUILDING_INSTEAD: (event) => `${describeEvent(event.refused)}; building instead`,
  CARRIED_LIBRARY_MISSING: (event) => `${event.library} is not on this machine: ${event.modules.join(', ')} of the carried interpreter will not import`,
  CACHED_ARCHIVE_BAD: (event) => `${event.cause}; restoring ${event.key} from ${event.store} instead`,
  UNPACKED_DROPPED: (event) => `unpacked copy in the cache ${event.cache}: ${event.key} is unusable (${event.cause}); dropped it, using the stores`,
  LINK_MODE_FALLBACK: (event) => `--link-mode ${event.asked} is not possible between ${event.cache} and ${event.target}; used ${event.used}`,
  LINKED_BY: (event) => `files linked from the cache by ${event.method}`,
  UNPACKED_OTHER_FILESYSTEM: (event) => `no unpacked copy kept: the cache (${event.cache}) is on another file system than ${event.target}`,
  UNPACKED_NOT_KEPT: (event) =>
    `${event.key ? `could not keep an unpacked copy of ${event.key}` : 'cannot keep an unpacked copy'} in the cache: ${event.cause}`,
  UNPACKED_KEPT: (event) =>
    `kept an unpacked copy of ${event.key} (${formatBytes(event.bytes)}) in the cache ${event.cache} for repeat installs to link from; --link-mode none keeps none`,
  CACHE_KEPT: (event) => `kept ${event.key} in the ${event.cache}`,
  CACHE_NOT_KEPT: (event) => `could not keep ${event.key} in the cache: ${event.cause}`,
  CACHE_EVICTED: (event) => `cache over --cache-max-size: dropped ${event.keys.join(', ')}`,
  CACHE_EVICTION_FAILED: (event) => `could not keep the cache under --cache-max-size: ${event.cause}`,
  DOWNLOAD_RESUMED: (event) => `${event.what} broke at byte ${event.offset} (${event.cause}); resuming (retry ${event.retry} of ${event.retries})`,
  REQUEST_RETRIED: (event) => `${event.store}: ${event.cause}; trying again in ${event.seconds.toFixed(1)} s`,
  REDIRECTED: (event) => `${event.from} redirects to another host: ${event.to}`,
  INTERPRETER: (event) => `interpreter: ${event.executable}`,
  FACTS_STALE: (event) => `the cache's facts about ${event.executable} were not true (key ${event.key}); asked it again: key ${event.fresh}`,
  NEAREST_SKIPPED: (event) => `not looking for the nearest environment in ${event.store}: ${event.cause}`,
  MISS_NEAREST: (event) => `miss: ${event.nearest}`,
  BUILDING: (event) => `building ${event.key} with ${event.executable} (no archive found)`,
  RUNNING: (event) => `running ${event.command}`,
  LOCK_SOURCES_FALLBACK: (event) =>
    `pip could not install the lock from the URLs it names (exit ${event.exitCode}); trying the same files, by hash, from your index and find-links alone`,
  BYTECODE_FAILED: (event) => `compiling bytecode failed (exit ${event.exitCode}); Python compiles each module when it is first imported instead`,
  BUILD_PATH_IN_BINARY: (event) =>
    `${event.file} names the build path in binary data: rewritten on restore where the new path is not longer than ${event.limit} bytes, left as it is elsewhere (terrarium doctor lists it then)`,
  BUILD_PATH_TOO_LARGE: (event) =>
    `${event.file} names the build path but is larger than ${event.limit >> 20} MiB: left as it is on restore (terrarium doctor lists it then)`,
  OUTSIDE_PATH_PACKED: (event) => `packing ${event.key} although ${describeOutsidePath(event.outside)}: that path must exist wherever the archive is restored`,
  NOT_PUBLISHED_UNSIGNED: (event) =>
    `not publishing ${event.key}: runners that trust only signed archives would pass it over (pass --sign-key to publish a signed one)`,
  SIGNED: (event) => `signed ${event.key} with key ${event.keyId}`,
  STORED_ARCHIVE_REPLACED: (event) => `${event.store}: the archive stored for ${event.key} cannot be installed (${event.flaw}); replacing it`,
  PUBLISH_FAILED: (event) => `could not publish ${event.key} to ${event.store}: ${event.cause}`,
  LEASE_UNAVAILABLE: (event) => `${event.store}: no build lease for ${event.key} (${event.cause}); building it here`,
  LEASE_LOOKUP_FAILED: (event) => `${event.store}: ${event.cause}; building ${event.key} here`,
  LEASE_BEST_EFFORT: (event) =>
    `${event.store}: this server ignores conditional writes (If-None-Match): the build lease is best effort, two runners may build one key`,
  BUILD_WAITING: (event) =>
    `${event.key} is being built by ${describeLeaseHolder(event.holder)}${since(event.holder)}; waiting for its archive (up to ${event.seconds} s, --build-wait)`,
  BUILD_WAIT_GAVE_UP: (event) =>
    `gave up waiting for ${describeLeaseHolder(event.holder)} after ${event.seconds} s (--build-wait); building ${event.key} here too`,
  BUILDING_TOO: (event) => `${event.key} is being built by ${describeLeaseHolder(event.holder)} too; building it here (--build-wait 0)`,
  TARGET_WAITING: (event) =>
    `waiting for ${event.target}: ${describeLockHolder(event.holder)} is working on it (waiting up to ${event.seconds} s, --lock-timeout)`,
  REINSTALLING: (event) => `installing ${event.key} again at ${event.target}: ${event.reason}`,
  BACKUP_KEPT: (event) =>
    `kept ${event.backup}, the environment before ${event.key}, as the backup: the copy of ${event.key} this install replaced was discarded`,
  SWAP_RECOVERED: (event) =>
    event.done === 0
      ? `an interrupted ${event.operation} had not changed ${event.target} yet`
      : `undid an interrupted ${event.operation} of ${event.target} (${event.done} of ${event.steps} steps had run)`,
  LEFTOVERS_REMOVED: (event) => `removed what interrupted runs left: ${event.names.join(', ')}`,
  STORE_NOT_LISTED: (event) => (event.cause === undefined ? `${event.store} ${UNLISTABLE}` : `${event.store}: ${event.cause}`),
  KEY_COMPUTED: (event) => `${event.key} (${event.interpreter})`,
  ARCHIVE_READ: (event) => `${describeRead(event)}; ${formatCount(event.files, 'file')}, ${formatBytes(event.written)}`,
  TREES_LINKED: (event) => {
    const from = event.trees > 1 ? ` in ${formatCount(event.trees, 'tree')}` : '';
    return `${formatCount(event.files, 'file')}${from} from the cache (${event.signed ? 'copied, as the signature covers them' : event.method})`;
  },
  INTERPRETER_BUNDLED: (event) => `${event.interpreter} carried: ${formatCount(event.files, 'file')}, ${formatBytes(event.bytes)}`,
  VENV_CREATED: (event) => `Python ${event.version} environment created`,
  RESOLVED: (event) => `${formatCount(event.count, 'distribution')} to install (pip's dry run)`,
  LAYERS_REUSED: (event) =>
    `${formatCount(event.layers, 'stored layer')} reused (${formatBytes(event.bytes)} read), ${formatCount(event.distributions - event.layers, 'distribution')} left for pip`,
  ASSEMBLY_SKIPPED: (event) => `building in full: ${event.reason}`,
  LAYER_NOT_REUSED: (event) => `not reusing ${event.layer} from ${event.store}: ${event.cause}; pip installs it`,
  INDEX_NOT_WRITTEN: (event) => `${event.store}: the index of ${event.key}'s layers was not written (${event.cause}); later misses run pip for them`,
  PACKAGES_INSTALLED: (event) => (event.count ? `${formatCount(event.count, 'package')} installed` : 'nothing to install'),
  BYTECODE_COMPILED: (event) => (event.perCore ? 'compiled, one process per core' : 'compiled'),
  PACKED: (event) => {
    const layers = event.layers === undefined ? '' : ` in ${formatCount(event.layers, 'layer')}`;
    return `${formatCount(event.entries, 'entry', 'entries')}, ${formatBytes(event.bytes)} -> ${formatBytes(event.packed)}${layers} (${event.codec})`;
  },
  PUBLISHED: (event) => `${formatBytes(event.bytes)}${event.replaced ? ', in place of the broken one' : ''}`,
  PUBLISHED_BY_OTHER: () => 'another run published it first; kept that one',
  WAIT_ENDED: (event) =>
    event.next === 'published' ? `${event.key} is in ${event.store}` : event.next === 'builder-gone' ? 'the builder is gone; building here' : 'building here',
};

/** The words of an event. */
export function describeEvent(event: ReportEvent): string {
  return (WORDS[event.code] as (event: ReportEvent) => string)(event);
}

/** "21.3 MiB in 48 layers from STORE, verified and signed by KEY": what was read. */
function describeRead(event: Extract<ReportEvent, { code: 'ARCHIVE_READ' }>): string {
  const what =
    event.layers === undefined
      ? formatBytes(event.bytes)
      : event.linked
        ? `${event.layersRead} of ${event.layers} layers (${formatBytes(event.bytesRead)})`
        : `${formatBytes(event.bytes)} in ${formatCount(event.layers, 'layer')}`;
  const shared = event.linked ? `, ${event.linked} linked from the cache` : '';
  return `${what} from ${event.store}, verified${event.signer ? ` and signed by ${event.signer}` : ''}${shared}`;
}
