import path from 'node:path';
import { type Command, Option } from 'commander';
import { CODECS, type Codec } from '../archive/codec-names.js';
import { LINK_METHODS, type LinkMethod } from '../io/file-ops.js';
import { BUILDERS, type Builder } from '../env/build.js';
import { TerrariumError } from '../errors.js';
import type { Verbosity } from '../report/reporter.js';
import { makeHash } from '../requirements/digest.js';
import { DEFAULT_KEY_FORMAT, formatKey } from '../requirements/key-format.js';
import { cacheDirFrom } from '../stores/cache-dir.js';
import type { StoreSettings } from '../stores/configure.js';
import { withoutCredentials } from './secrets.js';
import { parseNonNegative, parseSize } from './units.js';

/** Options shared by every command, as the original terrarium spelled them (plus a few of our own). */
export function addGlobalOptions(program: Command): Command {
  return program
    .addOption(new Option('-t, --target <dir>', 'environment to install into or revert (default: $VIRTUAL_ENV)'))
    .addOption(new Option('--storage-dir <dir>', 'directory holding archives (local disk or a shared mount)').env('TERRARIUM_STORAGE_DIR'))
    .addOption(new Option('--s3-bucket <name>', 'S3 bucket holding archives').env('S3_BUCKET'))
    .addOption(new Option('--s3-access-key <id>', 'S3 access key id (default: the AWS credential chain)').env('S3_ACCESS_KEY'))
    .addOption(new Option('--s3-secret-key <secret>', 'S3 secret access key (never printed)').env('S3_SECRET_KEY'))
    .addOption(new Option('--s3-max-retries <n>', 'retries of a failed S3 or HTTP request, with backoff').env('S3_MAX_RETRIES').default('3'))
    .addOption(new Option('--s3-endpoint <url>', 'S3-compatible service (MinIO, Ceph, R2, GCS: https://storage.googleapis.com)').env('S3_ENDPOINT'))
    .addOption(new Option('--s3-region <region>', 'bucket region (default: $AWS_REGION, else us-east-1)').env('S3_REGION'))
    .addOption(new Option('--s3-prefix <prefix>', 'prefix of every object name inside the bucket, such as envs/').env('S3_PREFIX'))
    .addOption(
      new Option('--s3-path-style', 'address the bucket as ENDPOINT/BUCKET (most S3-compatible servers) instead of BUCKET.ENDPOINT (env: S3_PATH_STYLE=1)'),
    )
    .addOption(new Option('--s3-timeout <seconds>', 'give up on a connection that stays silent this long (then retry)').env('S3_TIMEOUT').default('30'))
    .addOption(
      new Option('--storage-url <url>', 'read-only HTTP(S) store: archives fetched from URL/KEY.json and the archive it names').env('TERRARIUM_STORAGE_URL'),
    )
    .addOption(
      new Option('--cache-dir <dir>', 'local cache of downloaded archives and unpacked copies (default: $XDG_CACHE_HOME/terrarium)').env('TERRARIUM_CACHE_DIR'),
    )
    .addOption(new Option('--no-cache', 'keep nothing in the local cache: unpack every install from its archive'))
    .addOption(
      new Option('--cache-max-size <size>', 'cap the cache (such as 5G); least recently used archives and copies go first').env('TERRARIUM_CACHE_MAX_SIZE'),
    )
    .addOption(
      new Option(
        '--link-mode <mode>',
        'how repeat installs take files from the unpacked copy kept in the cache (auto: clone, else hardlink, else copy; none: keep no copy, unpack every install)',
      )
        .choices(LINK_MODES)
        .env('TERRARIUM_LINK_MODE')
        .default('auto'),
    )
    .addOption(new Option('--no-download', 'do not look for an archive; always build'))
    .addOption(new Option('--no-upload', 'do not publish a newly built archive'))
    .addOption(new Option('--require-download', 'fail instead of building when no archive is found'))
    .addOption(new Option('--no-backup', 'do not keep the replaced environment as TARGET<suffix>'))
    .addOption(new Option('--backup-suffix <suffix>', 'suffix of the backup of the replaced environment').default('.bak'))
    .addOption(new Option('--no-bootstrap', 'do not write bin/terrarium_bootstrap.py into the environment'))
    .addOption(new Option('--digest-type <name>', 'hash used for the requirements digest (any Node crypto digest)').default('md5'))
    .addOption(
      new Option('--remote-key-format <format>', 'archive key, with %(arch)s %(python_vmajor)s %(python_vminor)s %(python_vpatch)s %(digest)s').default(
        DEFAULT_KEY_FORMAT,
      ),
    )
    .addOption(new Option('--python <interpreter>', 'Python to build and restore with (name on PATH or path)').env('TERRARIUM_PYTHON').default('python3'))
    .addOption(
      new Option(
        '--builder <builder>',
        'how a new environment is created (default: venv, or virtualenv where the interpreter has no venv, as Python 2.7)',
      ).choices(BUILDERS),
    )
    .addOption(
      new Option(
        '--allow-outside-paths',
        'pack environments whose editable installs, .pth entries or symlinks name paths outside them, and restore archives with such symlinks (those paths must exist here)',
      ),
    )
    .addOption(
      new Option('--sign-key <file>', 'sign every archive published with this minisign secret key (terrarium keygen makes one)').env('TERRARIUM_SIGN_KEY'),
    )
    .addOption(
      new Option(
        '--trust-key <key>',
        'install only archives signed by this minisign public key (the key, or its .pub file); repeatable (env: TERRARIUM_TRUSTED_KEYS, comma-separated)',
      ).argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]),
    )
    .addOption(new Option('--compression <codec>', 'archive compression').choices(CODECS).default('zstd'))
    .addOption(new Option('--no-compress', 'same as --compression none (the original terrarium option)'))
    .addOption(new Option('--force', 'replace a target directory that is not a Python environment'))
    .addOption(
      new Option('--lock-timeout <seconds>', 'how long to wait while another terrarium works on the same target (0: fail at once)')
        .env('TERRARIUM_LOCK_TIMEOUT')
        .default('600'),
    )
    .addOption(new Option('--no-progress', 'plain lines instead of a live progress line, even on a terminal'))
    .addOption(new Option('--json', 'print the result as one JSON document on stdout (key, hash, exists, ls, install, doctor; errors too)'))
    .addOption(new Option('-V, --verbose', 'more detail; repeat (-VV) for everything').argParser((_: string, count: number) => count + 1).default(0))
    .addOption(new Option('-q, --quiet', 'print only errors'));
}

export interface RawOptions {
  target?: string;
  storageDir?: string;
  s3Bucket?: string;
  s3AccessKey?: string;
  s3SecretKey?: string;
  s3MaxRetries: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3Prefix?: string;
  s3PathStyle?: boolean;
  s3Timeout: string;
  storageUrl?: string;
  cacheDir?: string;
  cache: boolean;
  cacheMaxSize?: string;
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
  builder?: Builder;
  allowOutsidePaths?: boolean;
  signKey?: string;
  trustKey?: string[] | string;
  force?: boolean;
  lockTimeout: string;
  linkMode: LinkMode;
  progress: boolean;
  json?: boolean;
  verbose: number;
  quiet?: boolean;
}

const LINK_MODES = ['auto', ...LINK_METHODS, 'none'] as const;
type LinkMode = (typeof LINK_MODES)[number];

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
  const lockTimeoutSeconds = parseNonNegative(raw.lockTimeout, '--lock-timeout');
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
    storage: storeSettings(raw, cwd, env),
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
    builder: raw.builder,
    allowOutsidePaths: raw.allowOutsidePaths ?? false,
    signKey: raw.signKey === undefined ? undefined : path.resolve(cwd, raw.signKey),
    // One value from a configuration file, a list from repeated options, a comma-separated list from the environment.
    trustKeys: [...[raw.trustKey ?? []].flat(), ...(env.TERRARIUM_TRUSTED_KEYS ?? '').split(',')].map((key) => key.trim()).filter(Boolean),
    force: raw.force ?? false,
    lockTimeoutSeconds,
    link: linkSettings(raw.linkMode),
    verbosity: verbosityOf(raw),
    json: raw.json ?? false,
  };
}

function storeSettings(raw: RawOptions, cwd: string, env: NodeJS.ProcessEnv): StoreSettings {
  const retries = parseNonNegative(raw.s3MaxRetries, '--s3-max-retries', true);
  const timeoutSeconds = parseNonNegative(raw.s3Timeout, '--s3-timeout');
  if (Boolean(raw.s3AccessKey) !== Boolean(raw.s3SecretKey)) {
    throw new TerrariumError(
      'USAGE',
      `${raw.s3AccessKey ? '--s3-access-key' : '--s3-secret-key'} given without ${raw.s3AccessKey ? '--s3-secret-key' : '--s3-access-key'}`,
      {
        hint: 'give both (or S3_ACCESS_KEY and S3_SECRET_KEY), or neither to use the AWS credential chain',
      },
    );
  }
  for (const [option, url] of [
    ['--s3-endpoint', raw.s3Endpoint],
    ['--storage-url', raw.storageUrl],
  ] as const) {
    if (url === undefined) continue;
    if (!/^https?:\/\/[^/]/.test(url) || !URL.canParse(url))
      throw new TerrariumError('USAGE', `bad ${option} "${withoutCredentials(url)}"`, { hint: 'give an http:// or https:// URL' });
    const parsed = new URL(url);
    if (parsed.username || parsed.password) {
      throw new TerrariumError(
        'USAGE',
        `${option} holds credentials (${withoutCredentials(url)}); they are not read from URLs, where logs and process lists would show them`,
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

function linkSettings(mode: LinkMode): Settings['link'] {
  if (mode === 'none') return undefined;
  return mode === 'auto' ? { method: LINK_METHODS[0], explicit: false } : { method: mode, explicit: true };
}

function interpreterCacheFile(cacheDir: string | undefined, cwd: string, env: NodeJS.ProcessEnv): string | undefined {
  const dir = cacheDirFrom(cacheDir, true, cwd, env);
  return dir && path.join(dir, 'interpreters.json');
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
