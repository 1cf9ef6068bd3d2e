import type { CommandHandler } from './context.js';
import type { OptionGroup } from './option-spec.js';
import { type CommandWithOptions, OPTIONS, type RawOptions, specFor } from './option-table.js';

/** Global options a command reads, by group or by name: `help COMMAND` lists them (and the output options, which every command takes). */
type Uses = ReadonlyArray<OptionGroup | keyof RawOptions>;

/** One command of the command line: `--help`, `help COMMAND`, completion scripts and the man page read it. */
export interface CommandSpec {
  name: string;
  summary: string;
  argument?: [string, string];
  /** Loaded only when the command runs: `hash` need not load the install pipeline. */
  handler: () => Promise<CommandHandler>;
  /** Its own options, beside the global ones: their entry in COMMAND_OPTIONS. */
  options?: CommandWithOptions;
  examples?: string[];
  uses?: Uses;
  /** Runs even when a setting is bad, and shows the problem (config: a tool to find it with). */
  tolerant?: true;
}

const EVERY: Uses = ['install', 'storage', 's3', 'oci', 'cache', 'trust', 'build'];
const KEY: Uses = ['python', 'portable', 'digestType', 'remoteKeyFormat', 'cacheDir'];
const STORES: Uses = ['storage', 's3', 'oci'];
const LOOKUP: Uses = [...STORES, 'cacheDir', 'cache'];

/** Whether `help COMMAND` lists this global option. */
export function optionApplies(spec: CommandSpec, name: string): boolean {
  if (!(name in OPTIONS)) return false;
  const { group } = specFor(name as keyof RawOptions);
  return group === 'output' || (spec.uses ?? []).some((used) => used === name || used === group);
}

const REQUIREMENTS: [string, string] = ['<requirements...>', 'requirements files (-r/-c includes are followed)'];

export const COMMANDS: CommandSpec[] = [
  {
    name: 'install',
    uses: EVERY,
    summary: 'restore the environment for these requirements from storage, or build and publish it',
    argument: REQUIREMENTS,
    examples: [
      'terrarium -t .venv --storage-dir /mnt/envs install requirements.txt',
      'S3_BUCKET=team-envs terrarium -t /srv/app/venv install req.txt dev.txt',
      'terrarium -t .venv --require-download --json install requirements.txt',
    ],
    handler: async () => (await import('./commands/install.js')).installCommand,
  },
  {
    name: 'key',
    uses: KEY,
    summary: 'print the archive key for these requirements',
    argument: REQUIREMENTS,
    examples: ['terrarium key requirements.txt', 'terrarium --python python3.12 --json key requirements.txt'],
    handler: async () => (await import('./commands/key.js')).keyCommand,
  },
  {
    name: 'hash',
    uses: ['digestType'],
    summary: 'print the digest of these requirements',
    argument: REQUIREMENTS,
    examples: ['terrarium hash requirements.txt constraints.txt'],
    handler: async () => (await import('./commands/key.js')).hashCommand,
  },
  {
    name: 'exists',
    uses: [...KEY, ...LOOKUP, 'trustKey'],
    summary: 'exit 0 if an archive for these requirements is stored, 1 if not',
    argument: REQUIREMENTS,
    examples: ['terrarium --storage-dir /mnt/envs exists requirements.txt && echo cached'],
    handler: async () => (await import('./commands/exists.js')).existsCommand,
  },
  {
    name: 'diff',
    uses: [...KEY, ...LOOKUP],
    summary: 'show what differs between two environments (exit 0: the same lines, 1: they differ)',
    argument: ['<sides...>', 'two keys (looked up in the cache and the stores), requirement files or lock files'],
    examples: ['terrarium --storage-dir /mnt/envs diff x86_64-3.11-1ab2… requirements.txt', 'terrarium diff requirements.lock.txt pylock.toml'],
    handler: async () => (await import('./commands/diff.js')).diffCommand,
  },
  {
    name: 'revert',
    uses: ['target', 'backupSuffix', 'lockTimeout'],
    summary: 'swap the target with its backup (run again to undo)',
    examples: ['terrarium -t .venv revert'],
    handler: async () => (await import('./commands/revert.js')).revertCommand,
  },
  {
    name: 'doctor',
    uses: ['target'],
    summary: 'list what ties the target environment to another place (exit 0: nothing)',
    examples: ['terrarium -t .venv doctor'],
    handler: async () => (await import('./commands/doctor.js')).doctorCommand,
  },
  {
    name: 'config',
    uses: EVERY,
    summary: 'print the effective settings and where each comes from (command line, environment, terrarium.toml, default)',
    examples: ['terrarium config', 'terrarium --json config'],
    handler: async () => (await import('./commands/config.js')).configCommand,
    tolerant: true,
  },
  {
    name: 'inspect',
    uses: [...LOOKUP, 'trustKey'],
    summary: 'show what an archive holds (interpreter, requirements, packages, size) without installing it',
    argument: ['<key-or-archive>', 'a key (looked up in the cache and the stores) or an archive file'],
    examples: ['terrarium --storage-dir /mnt/envs inspect $(terrarium key requirements.txt)', 'terrarium inspect ./x86_64-3.11-1ab2….tar.zst'],
    handler: async () => (await import('./commands/inspect.js')).inspectCommand,
  },
  {
    name: 'completion',
    summary: 'print a shell completion script (bash, zsh or fish)',
    argument: ['<shell>', 'bash, zsh or fish'],
    examples: [
      'terrarium completion bash > ~/.local/share/bash-completion/completions/terrarium',
      'terrarium completion fish > ~/.config/fish/completions/terrarium.fish',
    ],
    handler: async () => (await import('./commands/completion.js')).completionCommand,
  },
  {
    name: 'keygen',
    summary: 'write a key pair for signing archives: FILE (minisign secret key, mode 0600) and FILE.pub',
    argument: ['<file>', 'where the secret key goes (the public key goes to FILE.pub)'],
    examples: ['terrarium keygen ~/.config/terrarium/sign.key', 'terrarium --sign-key ~/.config/terrarium/sign.key -t .venv install requirements.txt'],
    handler: async () => (await import('./commands/keygen.js')).keygenCommand,
  },
  {
    name: 'cache dir',
    uses: ['cacheDir'],
    summary: 'print the cache directory this run would use',
    examples: ['terrarium cache dir', 'du -sh "$(terrarium cache dir)"'],
    handler: async () => (await import('./commands/cache.js')).cacheDirCommand,
  },
  {
    name: 'cache ls',
    uses: ['cacheDir'],
    summary: 'list the archives and unpacked copies kept in the local cache (key, kind, size, last use)',
    examples: ['terrarium cache ls', 'terrarium --json cache ls'],
    handler: async () => (await import('./commands/cache.js')).cacheLsCommand,
  },
  {
    name: 'cache clean',
    uses: ['cacheDir'],
    summary: 'remove these keys (or everything) from the local cache; never touches a store',
    argument: ['[keys...]', 'keys to remove (default: all)'],
    examples: ['terrarium cache clean', 'terrarium cache clean $(terrarium key requirements.txt)'],
    handler: async () => (await import('./commands/cache.js')).cacheCleanCommand,
  },
  {
    name: 'cache prune',
    uses: ['cacheDir'],
    summary: 'remove the least recently used from the local cache until it fits, or what was not used lately',
    examples: ['terrarium cache prune --max-size 5G', 'terrarium cache prune --older-than 14d --dry-run'],
    handler: async () => (await import('./commands/cache.js')).cachePruneCommand,
    options: 'cache prune',
  },
  {
    name: 'cache verify',
    uses: ['cacheDir'],
    summary: 'check the local cache: archives rehashed, unpacked copies against their index; drops what differs (exit 6 if any)',
    examples: ['terrarium cache verify', 'terrarium --cache-dir /ci/cache --json cache verify'],
    handler: async () => (await import('./commands/cache.js')).cacheVerifyCommand,
  },
  {
    name: 'ls',
    uses: STORES,
    summary: 'list the archives in each configured store (key, size, date)',
    examples: ['terrarium --s3-bucket team-envs ls'],
    handler: async () => (await import('./commands/archives.js')).lsCommand,
  },
  {
    name: 'prune',
    uses: STORES,
    summary: 'delete old archives from each writable store',
    examples: ['terrarium --storage-dir /mnt/envs prune --older-than 30d --dry-run', 'terrarium --s3-bucket team-envs prune --keep 50'],
    handler: async () => (await import('./commands/archives.js')).pruneCommand,
    options: 'prune',
  },
];

export const EXIT_CODES_HELP = `
Examples:
  $ terrarium -t .venv --storage-dir /mnt/envs install requirements.txt
  $ terrarium key requirements.txt
  $ terrarium help install

Defaults for any option can live in terrarium.toml (or [tool.terrarium] in
pyproject.toml); terrarium config shows every setting and where it comes from.

Exit codes:
  0 success; 1 exists: not stored, diff: they differ; 2 usage error (and a
  bad signing or trusted key); 3 requirements or lock file error; 4 Python
  interpreter error; 5 storage error; 6 corrupt, hostile or (with
  --require-download) untrusted archive; 7 environment build failed, here
  or on the runner this one waited for (pip's own exit code is passed
  through when pip fails here); 8 target error; 9 relocation or smoke check
  failed; 10 no archive with --require-download; 11 target locked by
  another run beyond --lock-timeout, or its lock taken over while this run
  worked; 70 internal error; 130/143/129 interrupted by
  SIGINT/SIGTERM/SIGHUP (cleaned up, target unchanged); 141 the output's
  reader went away.`;

/** What a bare `terrarium` prints (on stderr, with exit 2): how to start, in three lines. */
export const SHORT_USAGE = `usage: terrarium [options] COMMAND [FILES...]
commands: ${COMMANDS.map((spec) => spec.name.split(' ')[0])
  .filter((name, i, all) => all.indexOf(name) === i)
  .join(', ')}, help
run terrarium --help for the options, terrarium help COMMAND for one command
`;
