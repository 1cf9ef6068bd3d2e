import path from 'node:path';
import type { Command } from 'commander';
import { cacheDirFrom, cachePath } from '../cache/layout.js';
import { TerrariumError } from '../errors.js';
import type { StoreSettings } from '../install/configure-stores.js';
import type { Settings } from '../install/settings.js';
import { LINK_METHODS } from '../io/file-ops.js';
import { makeHash } from '../key/digest.js';
import { formatKey } from '../key/key-format.js';
import type { Verbosity } from '../report/reporter.js';
import { type LINK_MODES, commanderOption, longFlag, optionSpecs, type RawOptions, specFor } from './option-table.js';
import { shownUrl } from '../report/shown-url.js';
import { parseNonNegative, parseSize } from './units.js';

/** Options shared by every command, as the original terrarium spelled them (plus a few of our own), from the one table. */
export function addGlobalOptions(program: Command): Command {
  for (const [, spec] of optionSpecs()) program.addOption(commanderOption(spec));
  return program;
}

export function verbosityOf(raw: Pick<RawOptions, 'verbose' | 'quiet'>): Verbosity {
  return raw.quiet ? -1 : (Math.min(raw.verbose, 2) as Verbosity);
}

/** Checks what can be checked before any work starts, so that a typo costs nothing. */
/** How a message names an option: as the user gave it (`S3_ACCESS_KEY` when it came from the environment). */
export type OptionName = (option: keyof RawOptions) => string;

export function resolveSettings(raw: RawOptions, cwd: string, env: NodeJS.ProcessEnv, nameOf: OptionName = longFlag): Settings {
  makeHash(raw.digestType);
  formatKey(raw.remoteKeyFormat, { arch: 'x86_64', python_vmajor: '3', python_vminor: '11', python_vpatch: '0', digest: '0' });
  if (!raw.backupSuffix || raw.backupSuffix.includes('/')) {
    throw new TerrariumError('USAGE', `bad --backup-suffix "${raw.backupSuffix}"`, { hint: 'use a non-empty suffix without "/", such as .bak' });
  }
  const lockTimeoutSeconds = parseNonNegative(raw.lockTimeout, '--lock-timeout');
  const buildWaitSeconds = parseNonNegative(raw.buildWait, '--build-wait');
  for (const [option, value] of [
    ['--target', raw.target],
    ['--storage-dir', raw.storageDir],
    ['--cache-dir', raw.cacheDir],
    ['--python', raw.python],
    ['--sign-key', raw.signKey],
  ] as const) {
    // path.resolve(cwd, '') is the current directory: an empty --target would replace it.
    if (value !== undefined && value.trim() === '')
      throw new TerrariumError('USAGE', `empty ${option}`, { hint: `give ${option} a path, or leave the option out` });
  }
  const target = raw.target ?? (env.VIRTUAL_ENV || undefined);
  return {
    target: target === undefined ? undefined : path.resolve(cwd, target),
    storage: storeSettings(raw, cwd, env, nameOf),
    download: raw.download,
    upload: raw.upload,
    requireDownload: raw.requireDownload ?? false,
    backupSuffix: raw.backup ? raw.backupSuffix : undefined,
    bootstrap: raw.bootstrap,
    digestType: raw.digestType,
    keyFormat: raw.remoteKeyFormat,
    python: raw.python,
    interpreterCache: interpreterCacheFile(raw.cacheDir, cwd, env),
    codec: raw.compress ? raw.compression : 'none',
    format: raw.format === '2' ? 2 : 1,
    builder: raw.builder,
    allowOutsidePaths: raw.allowOutsidePaths ?? false,
    signKey: raw.signKey === undefined ? undefined : path.resolve(cwd, raw.signKey),
    // One value from a configuration file, a list from repeated options, a comma-separated list from the environment.
    trustKeys: [...[raw.trustKey ?? []].flat(), ...(env.TERRARIUM_TRUSTED_KEYS ?? '').split(',')].map((key) => key.trim()).filter(Boolean),
    force: raw.force ?? false,
    lockTimeoutSeconds,
    buildWaitSeconds,
    link: linkSettings(raw.linkMode),
    verbosity: verbosityOf(raw),
    json: raw.json ?? false,
  };
}

function storeSettings(raw: RawOptions, cwd: string, env: NodeJS.ProcessEnv, nameOf: OptionName): StoreSettings {
  const retries = parseNonNegative(raw.s3MaxRetries, '--s3-max-retries', true);
  const timeoutSeconds = parseNonNegative(raw.s3Timeout, '--s3-timeout');
  if (Boolean(raw.s3AccessKey) !== Boolean(raw.s3SecretKey)) {
    const [given, missing] = raw.s3AccessKey ? (['s3AccessKey', 's3SecretKey'] as const) : (['s3SecretKey', 's3AccessKey'] as const);
    throw new TerrariumError('USAGE', `${nameOf(given)} given without ${longFlag(missing)} (or ${specFor(missing).env})`, {
      hint: 'give both (or S3_ACCESS_KEY and S3_SECRET_KEY), or neither to use the AWS credential chain',
    });
  }
  for (const [option, url] of [
    ['--s3-endpoint', raw.s3Endpoint],
    ['--storage-url', raw.storageUrl],
  ] as const) {
    if (url === undefined) continue;
    if (!/^https?:\/\/[^/]/.test(url) || !URL.canParse(url))
      throw new TerrariumError('USAGE', `bad ${option} "${shownUrl(url)}"`, { hint: 'give an http:// or https:// URL' });
    const parsed = new URL(url);
    if (parsed.username || parsed.password) {
      throw new TerrariumError(
        'USAGE',
        `${option} holds credentials (${shownUrl(url)}); they are not read from URLs, where logs and process lists would show them`,
        {
          hint: 'put credentials in S3_ACCESS_KEY and S3_SECRET_KEY or the AWS credential chain; --storage-url takes only stores readable without any',
        },
      );
    }
  }
  return {
    storageDir: raw.storageDir ? path.resolve(cwd, raw.storageDir) : undefined,
    storageUrl: raw.storageUrl,
    s3: raw.s3Bucket
      ? {
          bucket: raw.s3Bucket,
          prefix: raw.s3Prefix ?? '',
          region: raw.s3Region ?? (env.AWS_REGION || undefined),
          endpoint: raw.s3Endpoint,
          pathStyle: raw.s3PathStyle ?? envFlag(env, 'S3_PATH_STYLE'),
          accessKey: raw.s3AccessKey,
          secretKey: raw.s3SecretKey,
          maxRetries: retries,
          timeoutSeconds,
        }
      : undefined,
    retries,
    timeoutSeconds,
    cacheDir: cacheDirFrom(raw.cacheDir, raw.cache, cwd, env),
    cacheMaxBytes: raw.cacheMaxSize === undefined ? undefined : parseSize(raw.cacheMaxSize, '--cache-max-size'),
  };
}

function linkSettings(mode: (typeof LINK_MODES)[number]): Settings['link'] {
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
