/**
 * What the library tells its user, as data: each event has a stable code (scripts and tests match on
 * it; `--json` carries the warnings), and `report/words.ts` alone makes its words. Stores, keys and
 * paths are the names a user knows them by; `cause` is the message of the error behind the event.
 */

/** Who holds a target's lock or a build lease, as its holder wrote it. */
export interface HolderFacts {
  /** The terrarium command that holds a target's lock. */
  command?: string | undefined;
  hostname?: string | undefined;
  /** The holder runs on this host (a lock's holder says so by a tag, not by its name). */
  thisHost?: boolean | undefined;
  pid: number;
  since: string;
}

/** A path an environment names outside itself that Python will use: a path in a package's file, or a symlink's target. */
export interface OutsidePath {
  /** The file holding it (or the symlink), relative to the environment. */
  file: string;
  /** The outside path. */
  target: string;
  /** The distribution that installed the file, when its RECORD says so. */
  distribution: string | undefined;
  link?: boolean;
}

export type ReportEvent =
  // Looking up and reading an archive.
  | { code: 'STORE_LOOKUP'; store: string; key: string; size: number | undefined }
  | { code: 'OTHER_PLATFORM_ONLY'; store: string; key: string; platform: string }
  | { code: 'STORE_UNREACHABLE'; store: string; cause: string }
  | {
      code: 'ARCHIVE_REFUSED';
      store: string;
      key: string;
      /** The error's code: why the archive was refused. */
      reason: string;
      untrusted: boolean;
      cause: string;
      /** What became of it in its store: removed, left (a store terrarium does not write), or the removal failed. */
      removal?: 'removed' | 'read-only' | 'failed' | undefined;
      removalCause?: string | undefined;
    }
  | { code: 'BUILDING_INSTEAD'; refused: Extract<ReportEvent, { code: 'ARCHIVE_REFUSED' }> }
  | { code: 'CARRIED_LIBRARY_MISSING'; library: string; modules: string[] }
  | { code: 'CACHED_ARCHIVE_BAD'; store: string; key: string; cause: string }
  | { code: 'UNPACKED_DROPPED'; cache: string; key: string; cause: string }
  | { code: 'LINK_MODE_FALLBACK'; asked: string; used: string; cache: string; target: string }
  | { code: 'LINKED_BY'; method: string }
  | { code: 'UNPACKED_OTHER_FILESYSTEM'; cache: string; target: string }
  | { code: 'UNPACKED_NOT_KEPT'; key: string | undefined; cause: string }
  | { code: 'UNPACKED_KEPT'; key: string; bytes: number; cache: string }
  | { code: 'CACHE_KEPT'; key: string; cache: string }
  | { code: 'CACHE_NOT_KEPT'; key: string; cause: string }
  | { code: 'CACHE_EVICTED'; keys: string[] }
  | { code: 'CACHE_EVICTION_FAILED'; cause: string }
  | { code: 'DOWNLOAD_RESUMED'; what: string; offset: number; cause: string; retry: number; retries: number }
  | { code: 'REDIRECTED'; from: string; to: string }
  | { code: 'REQUEST_RETRIED'; store: string; cause: string; seconds: number }
  // Finding the key and what is near it.
  | { code: 'INTERPRETER'; executable: string }
  | { code: 'FACTS_STALE'; executable: string; key: string; fresh: string }
  | { code: 'NEAREST_SKIPPED'; store: string; cause: string }
  | { code: 'MISS_NEAREST'; nearest: string }
  // Building, packing and publishing.
  | { code: 'BUILDING'; key: string; executable: string }
  | { code: 'RUNNING'; command: string }
  | { code: 'LOCK_SOURCES_FALLBACK'; exitCode: number }
  | { code: 'BYTECODE_FAILED'; exitCode: number }
  | { code: 'BUILD_PATH_IN_BINARY'; file: string; limit: number }
  | { code: 'BUILD_PATH_TOO_LARGE'; file: string; limit: number }
  | { code: 'OUTSIDE_PATH_PACKED'; key: string; outside: OutsidePath }
  | { code: 'NOT_PUBLISHED_UNSIGNED'; key: string }
  | { code: 'SIGNED'; key: string; keyId: string }
  | { code: 'STORED_ARCHIVE_REPLACED'; store: string; key: string; flaw: string }
  | { code: 'PUBLISH_FAILED'; store: string; key: string; cause: string }
  | { code: 'INDEX_NOT_WRITTEN'; store: string; key: string; cause: string }
  // Assembling a miss from stored layers.
  | { code: 'ASSEMBLY_SKIPPED'; reason: string }
  | { code: 'LAYER_NOT_REUSED'; layer: string; store: string; cause: string }
  // Build leases.
  | { code: 'LEASE_UNAVAILABLE'; store: string; key: string; cause: string }
  | { code: 'LEASE_LOOKUP_FAILED'; store: string; key: string; cause: string }
  | { code: 'LEASE_BEST_EFFORT'; store: string }
  | { code: 'BUILD_WAITING'; key: string; holder: HolderFacts | undefined; seconds: number }
  | { code: 'BUILD_WAIT_GAVE_UP'; key: string; holder: HolderFacts | undefined; seconds: number }
  | { code: 'BUILDING_TOO'; key: string; holder: HolderFacts | undefined }
  // The target.
  | { code: 'TARGET_WAITING'; target: string; holder: HolderFacts | undefined; seconds: number }
  | { code: 'REINSTALLING'; target: string; key: string; reason: string }
  | { code: 'BACKUP_KEPT'; backup: string; key: string }
  | { code: 'SWAP_RECOVERED'; target: string; operation: string; done: number; steps: number }
  | { code: 'LEFTOVERS_REMOVED'; names: string[] }
  // Commands over stores.
  | { code: 'STORE_NOT_LISTED'; store: string; cause: string | undefined }
  // Summaries that end phases.
  | { code: 'KEY_COMPUTED'; key: string; interpreter: string }
  | {
      code: 'ARCHIVE_READ';
      store: string;
      bytes: number;
      layers: number | undefined;
      /** Of a layered archive whose other layers were linked from the cache: the layers and bytes read. */
      layersRead: number;
      bytesRead: number;
      linked: number;
      signer: string | undefined;
      files: number;
      written: number;
    }
  | { code: 'TREES_LINKED'; files: number; trees: number; method: string; signed: boolean }
  | { code: 'INTERPRETER_BUNDLED'; interpreter: string; files: number; bytes: number }
  | { code: 'VENV_CREATED'; version: string }
  | { code: 'PACKAGES_INSTALLED'; count: number }
  | { code: 'RESOLVED'; count: number }
  | { code: 'LAYERS_REUSED'; layers: number; bytes: number; distributions: number }
  | { code: 'BYTECODE_COMPILED'; perCore: boolean }
  | { code: 'PACKED'; entries: number; bytes: number; packed: number; layers: number | undefined; codec: string }
  | { code: 'PUBLISHED'; bytes: number; replaced: boolean }
  | { code: 'PUBLISHED_BY_OTHER' }
  | { code: 'WAIT_ENDED'; key: string; store: string; next: 'published' | 'builder-gone' | 'build-here' };

export type ReportEventCode = ReportEvent['code'];

/** A warning as `--json` carries it: its code, its words and its facts. */
export type WarningRecord = ReportEvent & { message: string };
