import type { Codec } from '../archive/codec-names.js';
import type { Builder } from '../env/build.js';
import type { LinkMethod } from '../io/file-ops.js';
import type { KeyOptions, KeySettings } from '../key/resolve.js';
import type { Reporter, Verbosity } from '../report/reporter.js';
import type { PublicKey, SecretKey } from '../sign/minisign.js';
import type { ConfiguredStores, StoreSettings } from './configure-stores.js';

/** How an archive found in a store becomes the environment (restore.ts). */
export interface RestoreSettings {
  requireDownload: boolean;
  /** The first method tried; `explicit` when the user chose it (a fallback is then worth a warning). Undefined: no link mode. */
  link: { method: LinkMethod; explicit: boolean } | undefined;
  /** Archives whose symlinks name paths outside the environment are restored (those paths must exist here). */
  allowOutsidePaths: boolean;
}

/** How a missed environment is built and packed (build-and-publish.ts). */
export interface BuildSettings {
  bootstrap: boolean;
  builder: Builder | undefined;
  codec: Codec;
  /** The archive format builds publish: 2 stores a layer per distribution (docs/layers.md). */
  format: 1 | 2;
  /** A miss reuses the distributions' layers stores hold (format 2), and pip installs only the rest (install/assemble). */
  assemble: boolean;
  /** Environments whose editable installs, .pth entries or symlinks name outside paths are packed. */
  allowOutsidePaths: boolean;
}

/**
 * A run's settings, checked and resolved (paths absolute, numbers parsed): what the command line makes
 * of its options, and what the library's jobs pick their fields from (a job takes its group whole).
 */
export interface Settings extends KeySettings {
  target: string | undefined;
  storage: StoreSettings;
  /** Look for an archive (false: --no-download, always build). */
  download: boolean;
  /** Publish what is built (false: --no-upload). */
  upload: boolean;
  restore: RestoreSettings;
  build: BuildSettings;
  backupSuffix: string | undefined;
  /** The minisign secret key file new archives are signed with. */
  signKey: string | undefined;
  /** minisign public keys (as given: a key or a file); when any, only archives signed by one are installed. */
  trustKeys: string[];
  force: boolean;
  /** Install even when the target already is this key's environment, unchanged. */
  reinstall: boolean;
  lockTimeoutSeconds: number;
  /** On a miss another runner is building: how long to wait for its archive (0: build at once). */
  buildWaitSeconds: number;
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

/** An install's job: the settings it uses, the stores and cache configured, the keys loaded. */
export interface InstallOptions
  extends KeyOptions,
    ConfiguredStores,
    RunKeys,
    JobContext,
    Pick<Settings, 'download' | 'upload' | 'restore' | 'build' | 'backupSuffix' | 'force' | 'reinstall' | 'lockTimeoutSeconds' | 'buildWaitSeconds'> {
  target: string;
}
