import path from 'node:path';
import type { Command } from 'commander';
import { cacheDirFrom, cachePath } from '../cache/layout.js';
import { TerrariumError } from '../errors.js';
import type { StoreSettings } from '../install/configure-stores.js';
import type { RestoreSettings, Settings } from '../install/settings.js';
import { LINK_METHODS } from '../io/file-ops.js';
import { makeHash } from '../key/digest.js';
import { formatKey } from '../key/key-format.js';
import type { Verbosity } from '../report/reporter.js';
import type { OciSettings } from '../stores/oci/oci-store.js';
import { parseMountSource, parseOciReference } from '../stores/oci/reference.js';
import { commanderOption } from './option-spec.js';
import { type LINK_MODES, longFlag, OPTIONS, optionSpecs, type RawOptions, specFor } from './option-table.js';
import { type OptionValues, parseOptions } from './option-values.js';

/** Options shared by every command, as the original terrarium spelled them (plus a few of our own), from the one table. */
export function addGlobalOptions(program: Command): Command {
  for (const [, spec] of optionSpecs()) program.addOption(commanderOption(spec));
  return program;
}

export function verbosityOf(raw: Pick<RawOptions, 'verbose' | 'quiet'>): Verbosity {
  return raw.quiet ? -1 : (Math.min(raw.verbose, 2) as Verbosity);
}

/** How a message names an option: as the user gave it (`S3_ACCESS_KEY` when it came from the environment). */
export type OptionName = (option: keyof RawOptions) => string;

/** Checks what can be checked before any work starts, so that a typo costs nothing; each value is parsed as its kind in the table says. */
export function resolveSettings(raw: RawOptions, cwd: string, env: NodeJS.ProcessEnv, nameOf: OptionName = longFlag): Settings {
  const v = parseOptions(OPTIONS, raw, { cwd, env, nameOf: nameOf as (option: string) => string });
  makeHash(v.digestType);
  formatKey(v.remoteKeyFormat, { arch: 'x86_64', python_vmajor: '3', python_vminor: '11', python_vpatch: '0', digest: '0' });
  if (!v.backupSuffix || v.backupSuffix.includes('/')) {
    throw new TerrariumError('USAGE', `bad ${nameOf('backupSuffix')} "${v.backupSuffix}"`, { hint: 'use a non-empty suffix without "/", such as .bak' });
  }
  const target = v.target ?? (env.VIRTUAL_ENV ? path.resolve(cwd, env.VIRTUAL_ENV) : undefined);
  return {
    target,
    storage: storeSettings(v, cwd, env, nameOf),
    download: v.download,
    upload: v.upload,
    restore: { requireDownload: v.requireDownload, link: linkSettings(v.linkMode), allowOutsidePaths: v.allowOutsidePaths },
    build: {
      bootstrap: v.bootstrap,
      builder: v.builder,
      codec: v.compress ? v.compression : 'none',
      format: v.format === '2' ? 2 : 1,
      assemble: v.assemble,
      allowOutsidePaths: v.allowOutsidePaths,
    },
    backupSuffix: v.backup ? v.backupSuffix : undefined,
    digestType: v.digestType,
    keyFormat: v.remoteKeyFormat,
    python: v.python,
    portable: v.portable,
    interpreterCache: interpreterCacheFile(v.cacheDir, cwd, env),
    signKey: v.signKey,
    trustKeys: v.trustKey,
    force: v.force,
    reinstall: v.reinstall,
    lockTimeoutSeconds: v.lockTimeout,
    buildWaitSeconds: v.buildWait,
    verbosity: verbosityOf(raw),
    json: v.json,
  };
}

type Values = OptionValues<typeof OPTIONS>;

function storeSettings(v: Values, cwd: string, env: NodeJS.ProcessEnv, nameOf: OptionName): StoreSettings {
  if (Boolean(v.s3AccessKey) !== Boolean(v.s3SecretKey)) {
    const [given, missing] = v.s3AccessKey ? (['s3AccessKey', 's3SecretKey'] as const) : (['s3SecretKey', 's3AccessKey'] as const);
    throw new TerrariumError('USAGE', `${nameOf(given)} given without ${longFlag(missing)} (or ${specFor(missing).env})`, {
      hint: 'give both (or S3_ACCESS_KEY and S3_SECRET_KEY), or neither to use the AWS credential chain',
    });
  }
  return {
    storageDir: v.storageDir,
    storageUrl: v.storageUrl,
    s3: v.s3Bucket
      ? {
          bucket: v.s3Bucket,
          prefix: v.s3Prefix ?? '',
          region: v.s3Region ?? (env.AWS_REGION || undefined),
          endpoint: v.s3Endpoint,
          pathStyle: v.s3PathStyle || envFlag(env, 'S3_PATH_STYLE'),
          accessKey: v.s3AccessKey,
          secretKey: v.s3SecretKey,
        }
      : undefined,
    oci: v.ociRepository ? ociSettings(v, env) : undefined,
    requests: { retries: v.s3MaxRetries, timeoutSeconds: v.s3Timeout },
    cacheDir: cacheDirFrom(v.cacheDir, v.cache, cwd, env),
    cacheMaxBytes: v.cacheMaxSize,
  };
}

/** The registry store; its credentials only from the environment or Docker's configuration, never the command line (where `ps` shows them). */
function ociSettings(v: Values, env: NodeJS.ProcessEnv): OciSettings {
  const username = env.TERRARIUM_OCI_USERNAME || undefined;
  const password = env.TERRARIUM_OCI_PASSWORD || undefined;
  if (Boolean(username) !== Boolean(password)) {
    throw new TerrariumError(
      'USAGE',
      `${username ? 'TERRARIUM_OCI_USERNAME' : 'TERRARIUM_OCI_PASSWORD'} set without ${username ? 'TERRARIUM_OCI_PASSWORD' : 'TERRARIUM_OCI_USERNAME'}`,
      {
        hint: 'set both, or neither to use the Docker configuration (docker login) or no credentials',
      },
    );
  }
  const home = env.HOME || undefined;
  const dockerConfig = env.DOCKER_CONFIG || (home && path.join(home, '.docker'));
  const { TERRARIUM_OCI_PASSWORD: _, ...helperEnv } = env;
  return {
    reference: parseOciReference(v.ociRepository!, v.ociInsecure ?? false),
    credentials: { username, password, dockerConfig, env: helperEnv },
    mountFrom: v.ociMountFrom.map(parseMountSource),
  };
}

function linkSettings(mode: (typeof LINK_MODES)[number]): RestoreSettings['link'] {
  if (mode === 'none') return undefined;
  return mode === 'auto' ? { method: LINK_METHODS[0], explicit: false } : { method: mode, explicit: true };
}

function interpreterCacheFile(cacheDir: string | undefined, cwd: string, env: NodeJS.ProcessEnv): string | undefined {
  const dir = cacheDirFrom(cacheDir, true, cwd, env);
  return dir && cachePath(dir, 'interpreters');
}

/** A yes/no environment variable (commander would take any value, even 0, as yes). */
function envFlag(env: NodeJS.ProcessEnv, name: string): boolean {
  const value = (env[name] ?? '').trim().toLowerCase();
  if (['', '0', 'false', 'no', 'off'].includes(value)) return false;
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  throw new TerrariumError('USAGE', `bad ${name} "${env[name]}"`, { hint: 'set it to 1 (or true) or 0 (or false)' });
}

export function requireTarget(settings: Settings): string {
  if (settings.target) return settings.target;
  throw new TerrariumError('NO_TARGET', 'no target environment given', {
    hint: 'pass --target DIR, or activate the environment to replace (VIRTUAL_ENV)',
  });
}
