import type { Codec } from '../archive/codec-names.js';
import type { Builder } from '../env/build.js';
import type { LinkMethod } from '../io/file-ops.js';
import type { Verbosity } from '../report/reporter.js';
import type { StoreSettings } from './configure-stores.js';

/**
 * A run's settings, checked and resolved (paths absolute, numbers parsed): what the command line makes
 * of its options, and what the library's jobs pick their fields from.
 */
export interface Settings {
  target: string | undefined;
  storage: StoreSettings;
  download: boolean;
  upload: boolean;
  requireDownload: boolean;
  backupSuffix: string | undefined;
  bootstrap: boolean;
  digestType: string;
  keyFormat: string;
  python: string;
  /** Kept in the cache folder even with --no-cache: a few hundred bytes that save running Python on every key. */
  interpreterCache: string | undefined;
  codec: Codec;
  builder: Builder | undefined;
  allowOutsidePaths: boolean;
  /** The minisign secret key file new archives are signed with. */
  signKey: string | undefined;
  /** minisign public keys (as given: a key or a file); when any, only archives signed by one are installed. */
  trustKeys: string[];
  force: boolean;
  lockTimeoutSeconds: number;
  /** The first method tried; `explicit` when the user chose it (a fallback is then worth a warning). Undefined: no link mode. */
  link: { method: LinkMethod; explicit: boolean } | undefined;
  verbosity: Verbosity;
  json: boolean;
}
