import type { Manifest } from '../../archive/manifest.js';
import type { LocalCache } from '../../cache/local-cache.js';
import type { LinkMethod } from '../../io/file-ops.js';
import type { Fingerprint } from '../../python/fingerprint.js';
import type { MachineFacts } from '../../python/libraries.js';
import type { Store } from '../../stores/store.js';
import type { InstallOptions, JobContext, RestoreSettings } from '../settings.js';

/** What reading an environment into staging needs: the settings it was given, where, and for which interpreter. */
export interface RestoreJob extends Pick<InstallOptions, 'local' | 'trusted'>, JobContext {
  settings: RestoreSettings;
  key: string;
  /** This machine's interpreter; undefined only for a portable install where it is not installed. */
  python: Fingerprint | undefined;
  /** A portable install: the machine the interpreter each archive carries will run on. */
  carried?: MachineFacts | undefined;
  staging: string;
  target: string;
  /** Searched in order; the first usable archive wins. */
  stores: Store[];
  /** Checks staging once it is complete (the smoke check) for the environment its manifest describes: a failure there counts against the archive. */
  check: (staging: string, manifest: Manifest) => Promise<void>;
  /** Throws when what this run believes of the interpreter was not true (the cache's facts): then a failed check is not the archive's fault. */
  confirm: () => Promise<void>;
  /** Filled with the stores that could not be reached (then passed over, unless --require-download). */
  unreachable: Set<Store>;
  /** Filled with the stores whose archive was passed over for linking outside (a build here that does not may replace it). */
  linksOutside: Set<Store>;
}

/** Link mode: the cache whose unpacked copies files are taken from, and how. */
export interface LinkMode {
  cache: LocalCache;
  method: LinkMethod;
  explicit: boolean;
}

/** Link mode is on with a local cache, unless --link-mode none. */
export function linkModeOf(job: RestoreJob): LinkMode | undefined {
  return job.settings.link && job.local ? { cache: job.local, ...job.settings.link } : undefined;
}

/** Says how files came from the cache: a warning when the method asked for was not possible. */
export function noteLinkMethod(job: RestoreJob, link: LinkMode, method: LinkMethod): void {
  if (link.explicit && method !== link.method)
    job.reporter.warn({ code: 'LINK_MODE_FALLBACK', asked: link.method, used: method, cache: link.cache.dir, target: job.target });
  else job.reporter.detail({ code: 'LINKED_BY', method });
}

/** Where a restored environment came from. */
/** Where an environment was restored from: a store (with the bytes of its archive read), or the cache's unpacked copy. */
export type Restored = { kind: 'restored'; store: string; bytes: number } | { kind: 'linked'; cacheDir: string; method: LinkMethod };
