import type { Codec } from '../archive/codec-names.js';
import type { Builder } from '../env/build.js';
import type { LinkMethod } from '../io/file-ops.js';
import type { KeySettings } from '../key/resolve.js';
import type { Reporter, Verbosity } from '../report/reporter.js';
import type { PublicKey, SecretKey } from '../sign/minisign.js';
import type { StoreSettings } from './configure-stores.js';

/**
 * A run's settings, checked and resolved (paths absolute, numbers parsed): what the command line makes
 * of its options, and what the library's jobs pick their fields from.
 */
export interface Settings extends KeySettings {
  target: string | undefined;
  storage: StoreSettings;
  download: boolean;
  upload: boolean;
  requireDownload: boolean;
  backupSuffix: string | undefined;
  bootstrap: boolean;
  codec: Codec;
  /** The archive format builds publish: 2 stores a layer per distribution (docs/layers.md). */
  format: 1 | 2;
  builder: Builder | undefined;
  allowOutsidePaths: boolean;
  /** The minisign secret key file new archives are signed with. */
  signKey: string | undefined;
  /** minisign public keys (as given: a key or a file); when any, only archives signed by one are installed. */
  trustKeys: string[];
  force: boolean;
  lockTimeoutSeconds: number;
  /** On a miss another runner is building: how long to wait for its archive (0: build at once). */
  buildWaitSeconds: number;
  /** The first method tried; `explicit` when the user chose it (a fallback is then worth a warning). Undefined: no link mode. */
  link: { method: LinkMethod; explicit: boolean } | undefined;
  verbosity: Verbosity;
  json: boolean;
}

/** The keys a run signs with and trusts, loaded from --sign-key and --trust-key before any work starts. */
export interface RunKeys {
  /** Every archive published is signed with it. */
  signingKey: SecretKey | undefined;
  /** When any: only archives signed by one of these, for this key and these bytes, are installed. */
  trusted: readonly PublicKey[];
}

/** What every job of a run carries: where its words go, and the signal that interrupts it. */
export interface JobContext {
  /** Aborted on SIGINT/SIGTERM: the run stops at the next safe point, cleans up and throws the reason. */
  signal?: AbortSignal | undefined;
  reporter: Reporter;
}
