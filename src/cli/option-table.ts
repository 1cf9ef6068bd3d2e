import { CODECS } from '../archive/codec-names.js';
import { BUILDERS } from '../env/build.js';
import { LINK_METHODS } from '../io/file-ops.js';
import { DEFAULT_KEY_FORMAT } from '../key/key-format.js';
import { type CommandOptionSpec, flagOf, type OptionSpec } from './option-spec.js';

export const LINK_MODES = ['auto', ...LINK_METHODS, 'none'] as const;
export const COLOR_MODES = ['auto', 'always', 'never'] as const;

/**
 * Every global option, once: commander's definitions, the raw option types, configuration files,
 * `config`'s provenance and the masking of secrets all derive from this table. The names are those
 * commander gives each option (its long flag in camel case, without `no-`); a unit test holds them to it.
 */
export const OPTIONS = {
  target: { kind: 'path', flags: '-t, --target <dir>', help: 'environment to install into or revert (default: $VIRTUAL_ENV)', group: 'install', perRun: true },
  python: {
    kind: 'program',
    flags: '--python <interpreter>',
    help: 'Python to build and restore with (name on PATH, path, or a version such as 3.12)',
    group: 'install',
    env: 'TERRARIUM_PYTHON',
    default: 'python3',
  },
  portable: {
    kind: 'switch',
    flags: '--portable',
    help: 'the environment carries its interpreter: it restores where no Python is installed (--python then names a version)',
    group: 'install',
    env: 'TERRARIUM_PORTABLE',
  },
  requireDownload: { kind: 'switch', flags: '--require-download', help: 'fail instead of building when no archive is found', group: 'install' },
  download: { kind: 'switch', flags: '--no-download', help: 'do not look for an archive; always build', group: 'install' },
  upload: { kind: 'switch', flags: '--no-upload', help: 'do not publish a newly built archive', group: 'install' },
  backup: { kind: 'switch', flags: '--no-backup', help: 'do not keep the replaced environment as TARGET<suffix>', group: 'install' },
  backupSuffix: {
    kind: 'text',
    flags: '--backup-suffix <suffix>',
    help: 'suffix of the backup of the replaced environment',
    group: 'install',
    default: '.bak',
  },
  force: { kind: 'switch', flags: '--force', help: 'replace a target directory that is not a Python environment', group: 'install' },
  reinstall: {
    kind: 'switch',
    flags: '--reinstall',
    help: 'install even when the target already is this environment, unchanged (otherwise such an install does nothing)',
    group: 'install',
    env: 'TERRARIUM_REINSTALL',
  },
  lockTimeout: {
    kind: 'seconds',
    flags: '--lock-timeout <seconds>',
    help: 'how long to wait while another terrarium works on the same target (0: fail at once)',
    group: 'install',
    env: 'TERRARIUM_LOCK_TIMEOUT',
    default: '600',
  },
  buildWait: {
    kind: 'seconds',
    flags: '--build-wait <seconds>',
    help: 'on a miss that another runner is building, how long to wait for its archive before building here (0: build at once)',
    group: 'install',
    env: 'TERRARIUM_BUILD_WAIT',
    default: '300',
  },
  storageDir: {
    kind: 'path',
    flags: '--storage-dir <dir>',
    help: 'directory holding archives (local disk or a shared mount)',
    group: 'storage',
    env: 'TERRARIUM_STORAGE_DIR',
  },
  storageUrl: {
    kind: 'url',
    flags: '--storage-url <url>',
    help: 'read-only HTTP(S) store: archives fetched from URL/KEY.json and the archive it names',
    group: 'storage',
    env: 'TERRARIUM_STORAGE_URL',
  },
  s3Bucket: { kind: 'text', flags: '--s3-bucket <name>', help: 'S3 bucket holding archives', group: 's3', env: 'S3_BUCKET' },
  s3Prefix: {
    kind: 'text',
    flags: '--s3-prefix <prefix>',
    help: 'prefix of every object name inside the bucket, such as envs/',
    group: 's3',
    env: 'S3_PREFIX',
  },
  s3Region: {
    kind: 'text',
    flags: '--s3-region <region>',
    help: 'bucket region (default: $AWS_REGION, else us-east-1)',
    group: 's3',
    env: 'S3_REGION',
    fallbackEnv: 'AWS_REGION',
  },
  s3Endpoint: {
    kind: 'url',
    flags: '--s3-endpoint <url>',
    help: 'S3-compatible service (MinIO, Ceph, R2, GCS: https://storage.googleapis.com)',
    group: 's3',
    env: 'S3_ENDPOINT',
  },
  s3PathStyle: {
    kind: 'switch',
    flags: '--s3-path-style',
    help: 'address the bucket as ENDPOINT/BUCKET (most S3-compatible servers) instead of BUCKET.ENDPOINT',
    group: 's3',
    fallbackEnv: 'S3_PATH_STYLE',
    envNote: 'S3_PATH_STYLE=1',
  },
  s3AccessKey: {
    kind: 'text',
    flags: '--s3-access-key <id>',
    help: 'S3 access key id (default: the AWS credential chain)',
    group: 's3',
    env: 'S3_ACCESS_KEY',
    secret: true,
  },
  s3SecretKey: {
    kind: 'text',
    flags: '--s3-secret-key <secret>',
    help: 'S3 secret access key (never printed)',
    group: 's3',
    env: 'S3_SECRET_KEY',
    secret: true,
  },
  s3MaxRetries: {
    kind: 'whole',
    flags: '--s3-max-retries <n>',
    help: 'retries of a failed S3, OCI or HTTP request, with backoff',
    group: 's3',
    env: 'S3_MAX_RETRIES',
    default: '3',
  },
  s3Timeout: {
    kind: 'seconds',
    flags: '--s3-timeout <seconds>',
    help: 'give up on a connection that stays silent this long (then retry)',
    group: 's3',
    env: 'S3_TIMEOUT',
    default: '30',
  },
  ociRepository: {
    kind: 'text',
    flags: '--oci-repository <ref>',
    help: 'OCI registry repository holding archives, such as ghcr.io/acme/envs (credentials: TERRARIUM_OCI_USERNAME and _PASSWORD, or docker login)',
    group: 'oci',
    env: 'TERRARIUM_OCI_REPOSITORY',
  },
  ociInsecure: {
    kind: 'switch',
    flags: '--oci-insecure',
    help: 'talk to the registry over plain HTTP (a loopback registry always is)',
    group: 'oci',
    env: 'TERRARIUM_OCI_INSECURE',
  },
  ociMountFrom: {
    kind: 'list',
    flags: '--oci-mount-from <repo>',
    help: 'another repository of the same registry whose layers a publish mounts instead of uploading (repeatable)',
    group: 'oci',
    fallbackEnv: 'TERRARIUM_OCI_MOUNT_FROM',
    envNote: 'TERRARIUM_OCI_MOUNT_FROM, comma-separated',
  },
  cacheDir: {
    kind: 'path',
    flags: '--cache-dir <dir>',
    help: 'local cache of downloaded archives and unpacked copies (default: $XDG_CACHE_HOME/terrarium/v1)',
    group: 'cache',
    env: 'TERRARIUM_CACHE_DIR',
  },
  cache: { kind: 'switch', flags: '--no-cache', help: 'keep nothing in the local cache: unpack every install from its archive', group: 'cache' },
  cacheMaxSize: {
    kind: 'size',
    flags: '--cache-max-size <size>',
    help: 'cap the cache (such as 5G); least recently used archives and copies go first',
    group: 'cache',
    env: 'TERRARIUM_CACHE_MAX_SIZE',
  },
  linkMode: {
    kind: 'choice',
    flags: '--link-mode <mode>',
    help: 'how repeat installs take files from the unpacked copy kept in the cache (auto: clone, else hardlink, else copy; none: keep no copy, unpack every install)',
    group: 'cache',
    env: 'TERRARIUM_LINK_MODE',
    default: 'auto',
    choices: LINK_MODES,
  },
  signKey: {
    kind: 'path',
    flags: '--sign-key <file>',
    help: 'sign every archive published with this minisign secret key (terrarium keygen makes one)',
    group: 'trust',
    env: 'TERRARIUM_SIGN_KEY',
  },
  trustKey: {
    kind: 'list',
    flags: '--trust-key <key>',
    help: 'install only archives signed by this minisign public key (the key, or its .pub file); repeatable',
    group: 'trust',
    fallbackEnv: 'TERRARIUM_TRUSTED_KEYS',
    envNote: 'TERRARIUM_TRUSTED_KEYS, comma-separated',
  },
  allowOutsidePaths: {
    kind: 'switch',
    flags: '--allow-outside-paths',
    help: 'pack environments whose editable installs, .pth entries or symlinks name paths outside them, and restore archives with such symlinks (those paths must exist here)',
    group: 'trust',
  },
  builder: {
    kind: 'choice',
    flags: '--builder <builder>',
    help: 'how a new environment is created (default: venv, or virtualenv where the interpreter has no venv, as Python 2.7)',
    group: 'build',
    choices: BUILDERS,
  },
  compression: { kind: 'choice', flags: '--compression <codec>', help: 'archive compression', group: 'build', default: 'zstd', choices: CODECS },
  format: {
    kind: 'choice',
    flags: '--format <n>',
    help: 'archive format published: 1, one file per environment; 2, a layer per distribution, stored once and shared by every key that has it',
    group: 'build',
    default: '2',
    choices: ['1', '2'],
  },
  assemble: {
    kind: 'switch',
    flags: '--no-assemble',
    help: 'on a miss, let pip install every distribution rather than reuse the layers of them that stores hold',
    group: 'build',
  },
  compress: { kind: 'switch', flags: '--no-compress', help: 'same as --compression none (the original terrarium option)', group: 'build' },
  bootstrap: { kind: 'switch', flags: '--no-bootstrap', help: 'do not write bin/terrarium_bootstrap.py into the environment', group: 'build' },
  digestType: {
    kind: 'text',
    flags: '--digest-type <name>',
    help: 'hash used for the requirements digest (any Node crypto digest)',
    group: 'build',
    default: 'md5',
  },
  remoteKeyFormat: {
    kind: 'text',
    flags: '--remote-key-format <format>',
    help: 'archive key, with %(arch)s %(python_vmajor)s %(python_vminor)s %(python_vpatch)s %(digest)s',
    group: 'build',
    default: DEFAULT_KEY_FORMAT,
  },
  json: { kind: 'switch', flags: '--json', help: 'print the result as one JSON document on stdout (errors too)', group: 'output', perRun: true },
  verbose: { kind: 'count', flags: '-V, --verbose', help: 'more detail; repeat (-VV) for everything', group: 'output' },
  quiet: { kind: 'switch', flags: '-q, --quiet', help: 'print only errors', group: 'output' },
  progress: { kind: 'switch', flags: '--no-progress', help: 'plain lines instead of a live progress line, even on a terminal', group: 'output' },
  color: {
    kind: 'choice',
    flags: '--color <when>',
    help: 'colour warnings, errors and summaries (auto: on a terminal unless NO_COLOR or TERM=dumb; FORCE_COLOR forces it)',
    group: 'output',
    default: 'auto',
    choices: COLOR_MODES,
  },
} as const satisfies Record<string, OptionSpec>;

type Specs = typeof OPTIONS;

/** The value commander gives an option, derived from its spec. */
type RawValue<S extends OptionSpec> = S extends { kind: 'count' }
  ? number
  : S extends { kind: 'list' }
    ? string[] | string | undefined
    : S extends { kind: 'switch' }
      ? S['flags'] extends `--no-${string}`
        ? boolean
        : boolean | undefined
      : (S extends { choices: readonly (infer C)[] } ? C : string) | (S extends { default: string } ? never : undefined);

/** Every global option as parsed, before checking: derived from the table. */
export type RawOptions = { -readonly [K in keyof Specs]: RawValue<Specs[K]> };

/**
 * The options of one command, beside the global ones, with the same kinds. The names are commander's,
 * as in OPTIONS; the group is the command's own, so none is given.
 */
export const COMMAND_OPTIONS = {
  'cache prune': {
    maxSize: { kind: 'size', flags: '--max-size <size>', help: 'remove the least recently used until the cache holds at most this much (500M, 5G)' },
    olderThan: { kind: 'duration', flags: '--older-than <duration>', help: 'remove what was last used longer ago than this (14d, 12h)' },
    dryRun: { kind: 'switch', flags: '--dry-run', help: 'say what would be removed, remove nothing' },
  },
  prune: {
    olderThan: { kind: 'duration', flags: '--older-than <duration>', help: 'delete archives created longer ago than this (30d, 12h, 2w)' },
    keep: { kind: 'whole', flags: '--keep <n>', help: 'keep the N newest archives of each store, delete the rest' },
    layerGrace: {
      kind: 'duration',
      flags: '--layer-grace <duration>',
      help: "then delete the layers no archive names, and builds' leases and failure notes, once unused this long (a publisher writes its layers first)",
      default: '1h',
    },
    dryRun: { kind: 'switch', flags: '--dry-run', help: 'say what would be deleted, delete nothing' },
  },
} as const satisfies Record<string, Record<string, CommandOptionSpec>>;

export type CommandWithOptions = keyof typeof COMMAND_OPTIONS;

/** The table's entries, in its order (which is --help's within each group). */
export function optionSpecs(): Array<[keyof Specs, OptionSpec]> {
  return Object.entries(OPTIONS) as Array<[keyof Specs, OptionSpec]>;
}

/** One option's spec, by its name. */
export const specFor = (name: keyof RawOptions): OptionSpec => OPTIONS[name];

export const longFlag = (name: keyof RawOptions): string => flagOf(specFor(name));

/** A command's own options, in their table's order. */
export const commandOptionSpecs = (command: CommandWithOptions): CommandOptionSpec[] => Object.values(COMMAND_OPTIONS[command]);
