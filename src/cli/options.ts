import path from 'node:path';
import { Command, Option } from 'commander';
import { CODECS, type Codec } from '../archive/codecs.js';
import { TerrariumError } from '../errors.js';
import type { Verbosity } from '../report/reporter.js';
import { makeHash } from '../requirements/digest.js';
import { DEFAULT_KEY_FORMAT, formatKey } from '../requirements/key-format.js';
import { DirectoryStore } from '../stores/dir.js';
import type { Store } from '../stores/store.js';

/** Options shared by every command, as the original terrarium spelled them (plus a few of our own). */
export function addGlobalOptions(program: Command): Command {
  return program
    .addOption(new Option('-t, --target <dir>', 'environment to install into or revert (default: $VIRTUAL_ENV)'))
    .addOption(new Option('--storage-dir <dir>', 'directory holding archives (local disk or a shared mount)').env('TERRARIUM_STORAGE_DIR'))
    .addOption(new Option('--no-download', 'do not look for an archive; always build'))
    .addOption(new Option('--no-upload', 'do not publish a newly built archive'))
    .addOption(new Option('--require-download', 'fail instead of building when no archive is found'))
    .addOption(new Option('--no-backup', 'do not keep the replaced environment as TARGET<suffix>'))
    .addOption(new Option('--backup-suffix <suffix>', 'suffix of the backup of the replaced environment').default('.bak'))
    .addOption(new Option('--no-bootstrap', 'do not write bin/terrarium_bootstrap.py into the environment'))
    .addOption(new Option('--digest-type <name>', 'hash used for the requirements digest (any Node crypto digest)').default('md5'))
    .addOption(new Option('--remote-key-format <format>', 'archive key, with %(arch)s %(python_vmajor)s %(python_vminor)s %(python_vpatch)s %(digest)s').default(DEFAULT_KEY_FORMAT))
    .addOption(new Option('--python <interpreter>', 'Python to build and restore with (name on PATH or path)').env('TERRARIUM_PYTHON').default('python3'))
    .addOption(new Option('--compression <codec>', 'archive compression').choices(CODECS).default('zstd'))
    .addOption(new Option('--no-compress', 'same as --compression none (the original terrarium option)'))
    .addOption(new Option('--force', 'replace a target directory that is not a Python environment'))
    .addOption(new Option('--lock-timeout <seconds>', 'how long to wait while another terrarium works on the same target (0: fail at once)').env('TERRARIUM_LOCK_TIMEOUT').default('600'))
    .addOption(new Option('-V, --verbose', 'more detail; repeat (-VV) for everything').argParser((_: string, count: number) => count + 1).default(0))
    .addOption(new Option('-q, --quiet', 'print only errors'));
}

export interface RawOptions {
  target?: string;
  storageDir?: string;
  download: boolean;
  upload: boolean;
  requireDownload?: boolean;
  backup: boolean;
  backupSuffix: string;
  bootstrap: boolean;
  digestType: string;
  remoteKeyFormat: string;
  python: string;
  compression: Codec;
  compress: boolean;
  force?: boolean;
  lockTimeout: string;
  verbose: number;
  quiet?: boolean;
}

export interface Settings {
  target: string | undefined;
  stores: Store[];
  download: boolean;
  upload: boolean;
  requireDownload: boolean;
  backupSuffix: string | undefined;
  bootstrap: boolean;
  digestType: string;
  keyFormat: string;
  python: string;
  codec: Codec;
  force: boolean;
  lockTimeoutSeconds: number;
  verbosity: Verbosity;
}

export function verbosityOf(raw: Pick<RawOptions, 'verbose' | 'quiet'>): Verbosity {
  return raw.quiet ? -1 : (Math.min(raw.verbose, 2) as Verbosity);
}

/** Checks what can be checked before any work starts, so that a typo costs nothing. */
export function resolveSettings(raw: RawOptions, cwd: string, env: NodeJS.ProcessEnv): Settings {
  makeHash(raw.digestType);
  formatKey(raw.remoteKeyFormat, { arch: 'x86_64', python_vmajor: '3', python_vminor: '11', python_vpatch: '0', digest: '0' });
  if (!raw.backupSuffix || raw.backupSuffix.includes('/')) {
    throw new TerrariumError('USAGE', `bad --backup-suffix "${raw.backupSuffix}"`, { hint: 'use a non-empty suffix without "/", such as .bak' });
  }
  const lockTimeoutSeconds = Number(raw.lockTimeout);
  if (raw.lockTimeout.trim() === '' || !Number.isFinite(lockTimeoutSeconds) || lockTimeoutSeconds < 0) {
    throw new TerrariumError('USAGE', `bad --lock-timeout "${raw.lockTimeout}"`, { hint: 'give a number of seconds, 0 or more' });
  }
  const target = raw.target ?? (env.VIRTUAL_ENV || undefined);
  return {
    target: target === undefined ? undefined : path.resolve(cwd, target),
    stores: raw.storageDir ? [new DirectoryStore(path.resolve(cwd, raw.storageDir))] : [],
    download: raw.download,
    upload: raw.upload,
    requireDownload: raw.requireDownload ?? false,
    backupSuffix: raw.backup ? raw.backupSuffix : undefined,
    bootstrap: raw.bootstrap,
    digestType: raw.digestType,
    keyFormat: raw.remoteKeyFormat,
    python: raw.python,
    codec: raw.compress ? raw.compression : 'none',
    force: raw.force ?? false,
    lockTimeoutSeconds,
    verbosity: verbosityOf(raw),
  };
}

export function requireTarget(settings: Settings): string {
  if (settings.target) return settings.target;
  throw new TerrariumError('NO_TARGET', 'no target environment given', {
    hint: 'pass --target DIR, or activate the environment to replace (VIRTUAL_ENV)',
  });
}
