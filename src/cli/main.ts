import { Command, CommanderError, Help, Option } from 'commander';
import { EXIT, TerrariumError } from '../errors.js';
import { createReporter } from '../report/reporter.js';
import { TOOL_VERSION } from '../version.js';
import type { CliContext, CommandHandler } from './context.js';
import { describeCli } from './completion.js';
import { findConfigFile, type ConfigFile } from './config-file.js';
import { abortOnSignals, interruptNotice } from './interrupt.js';
import type { RawOptions } from './option-table.js';
import { addGlobalOptions, resolveSettings, verbosityOf } from './options.js';
import { secretsOf } from './secrets.js';
import { outputStyle } from './terminal.js';
import { applyConfigFile, applyEnvironment, effectiveSettings } from './settings-sources.js';

/** Each command's module is loaded only when it runs: `hash` need not load the install pipeline. */
const REQUIREMENTS: [string, string] = ['<requirements...>', 'requirements files (-r/-c includes are followed)'];

const COMMANDS: Array<{
  name: string;
  summary: string;
  argument?: [string, string];
  handler: () => Promise<CommandHandler>;
  options?: Option[];
  examples?: string[];
}> = [
  {
    name: 'install',
    summary: 'restore the environment for these requirements from storage, or build and publish it',
    argument: REQUIREMENTS,
    examples: [
      'terrarium -t .venv --storage-dir /mnt/envs install requirements.txt',
      'S3_BUCKET=team-envs terrarium -t /srv/app/venv install requirements.txt dev.txt',
      'terrarium -t .venv --require-download --json install requirements.txt',
    ],
    handler: async () => (await import('./commands/install.js')).installCommand,
  },
  {
    name: 'key',
    summary: 'print the archive key for these requirements',
    argument: REQUIREMENTS,
    examples: ['terrarium key requirements.txt', 'terrarium --python python3.12 --json key requirements.txt'],
    handler: async () => (await import('./commands/key.js')).keyCommand,
  },
  {
    name: 'hash',
    summary: 'print the digest of these requirements',
    argument: REQUIREMENTS,
    examples: ['terrarium hash requirements.txt constraints.txt'],
    handler: async () => (await import('./commands/key.js')).hashCommand,
  },
  {
    name: 'exists',
    summary: 'exit 0 if an archive for these requirements is stored, 1 if not',
    argument: REQUIREMENTS,
    examples: ['terrarium --storage-dir /mnt/envs exists requirements.txt && echo cached'],
    handler: async () => (await import('./commands/exists.js')).existsCommand,
  },
  {
    name: 'revert',
    summary: 'swap the target with its backup (run again to undo)',
    examples: ['terrarium -t .venv revert'],
    handler: async () => (await import('./commands/revert.js')).revertCommand,
  },
  {
    name: 'doctor',
    summary: 'list what ties the target environment to another place (exit 0: nothing)',
    examples: ['terrarium -t .venv doctor'],
    handler: async () => (await import('./commands/doctor.js')).doctorCommand,
  },
  {
    name: 'config',
    summary: 'print the effective settings and where each comes from (command line, environment, terrarium.toml, default)',
    examples: ['terrarium config', 'terrarium --json config'],
    handler: async () => (await import('./commands/config.js')).configCommand,
  },
  {
    name: 'inspect',
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
    name: 'cache verify',
    summary: 'check the local cache: archives rehashed, unpacked copies against their index; drops what differs (exit 6 if any)',
    examples: ['terrarium cache verify', 'terrarium --cache-dir /ci/cache --json cache verify'],
    handler: async () => (await import('./commands/cache.js')).cacheVerifyCommand,
  },
  {
    name: 'ls',
    summary: 'list the archives in each configured store (key, size, date)',
    examples: ['terrarium --s3-bucket team-envs ls'],
    handler: async () => (await import('./commands/archives.js')).lsCommand,
  },
  {
    name: 'prune',
    summary: 'delete old archives from each writable store',
    examples: ['terrarium --storage-dir /mnt/envs prune --older-than 30d --dry-run', 'terrarium --s3-bucket team-envs prune --keep 50'],
    handler: async () => (await import('./commands/archives.js')).pruneCommand,
    options: [
      new Option('--older-than <duration>', 'delete archives created longer ago than this (30d, 12h, 2w)'),
      new Option('--keep <n>', 'keep the N newest archives of each store, delete the rest'),
      new Option('--dry-run', 'say what would be deleted, delete nothing'),
    ],
  },
];

const EXIT_CODES_HELP = `
Examples:
  $ terrarium -t .venv --storage-dir /mnt/envs install requirements.txt
  $ terrarium key requirements.txt
  $ terrarium help install

Defaults for any option can live in terrarium.toml (or [tool.terrarium] in pyproject.toml);
terrarium config shows every setting and where it comes from.

Exit codes:
  0 success; 1 exists: not stored; 2 usage error (and a bad signing or trusted key);
  3 requirements file error; 4 Python interpreter error; 5 storage error;
  6 corrupt, hostile or (with --require-download) untrusted archive;
  7 environment build failed (pip's own exit code is passed through when pip fails); 8 target error;
  9 relocation or smoke check failed; 10 no archive with --require-download;
  11 target locked by another run beyond --lock-timeout, or its lock taken over while this run worked;
  70 internal error; 130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP (cleaned up, target unchanged);
  141 the output's reader went away (terrarium ls | head).`;

/** What a bare `terrarium` prints (on stderr, with exit 2): how to start, in three lines. */
const SHORT_USAGE = `usage: terrarium [options] COMMAND [FILES...]
commands: ${COMMANDS.map((spec) => spec.name.split(' ')[0])
  .filter((name, i, all) => all.indexOf(name) === i)
  .join(', ')}, help
run terrarium --help for the options, terrarium help COMMAND for one command
`;

/** Runs the command line; returns the exit status (nothing here calls process.exit). */
export async function main(argv: string[], context: CliContext = processContext()): Promise<number> {
  let status: number = EXIT.ok;
  const program = addGlobalOptions(new Command('terrarium'))
    .description('Package and ship relocatable Python virtual environments.')
    .version(TOOL_VERSION, '--version')
    .usage('[options] COMMAND [requirements files...]')
    .addHelpText('after', EXIT_CODES_HELP)
    .showSuggestionAfterError(true)
    // The original's help began `usage: terrarium ...`, as argparse writes it.
    .configureHelp({
      formatHelp(command, helper) {
        return Help.prototype.formatHelp.call(this, command, helper).replace(/^Usage:/, 'usage:');
      },
    })
    .exitOverride()
    // Commander's own error lines are replaced by terrarium's (below); the help it prints for a missing
    // command is replaced by the short usage.
    .configureOutput({ writeOut: (text) => context.stdout.write(text), writeErr: () => undefined, outputError: () => undefined });

  for (const spec of COMMANDS) {
    // `cache verify`: a command of the `cache` group.
    const [group, name] = spec.name.includes(' ') ? (spec.name.split(' ') as [string, string]) : [undefined, spec.name];
    const parent = group
      ? (program.commands.find((c) => c.name() === group) ?? program.command(group).description(`${group} commands (terrarium ${group} --help)`).exitOverride())
      : program;
    const command = parent.command(name).description(spec.summary).exitOverride();
    if (spec.argument) command.argument(...spec.argument);
    for (const option of spec.options ?? []) command.addOption(option);
    if (spec.examples) command.addHelpText('after', `\nExamples:\n${spec.examples.map((line) => `  $ ${line}`).join('\n')}\n`);
    command.addHelpText('after', '\nGlobal options (target, storage, S3, cache, signing, output) go before or after the command: terrarium --help\n');
    command.action(async (...args: unknown[]) => {
      const files = spec.argument ? [args[0] as string | string[]].flat() : [];
      const raw = command.optsWithGlobals<RawOptions>();
      const reporter = createReporter(context, verbosityOf(raw), {
        secrets: secretsOf(raw, context.env),
        ...outputStyle(raw, context.stderr, context.env),
      });
      const announce = () => reporter.info(interruptNotice(context.signal?.reason));
      context.signal?.addEventListener('abort', announce, { once: true });
      try {
        const settings = resolveSettings(raw, context.cwd, context.env);
        const handler = await spec.handler();
        status = await handler({
          settings,
          files,
          options: command.opts(),
          context,
          reporter,
          effective: () => effectiveSettings(program, config),
          configFile: config?.path,
          cli: () => describeCli(program),
        });
      } catch (error) {
        reporter.error(error);
        status = error instanceof TerrariumError ? error.exitCode : EXIT.internal;
        // A CI script reading stdout gets a document either way.
        if (raw.json) reporter.document({ ok: false, error: errorDocument(error, status) });
      } finally {
        context.signal?.removeEventListener('abort', announce);
      }
    });
  }

  let config: ConfigFile | undefined;
  try {
    config = findConfigFile(context.cwd);
    if (config) applyConfigFile(program, config);
    applyEnvironment(program, context.env);
  } catch (error) {
    createReporter(context, 0).error(error);
    return error instanceof TerrariumError ? error.exitCode : EXIT.internal;
  }

  try {
    await program.parseAsync(argv, { from: 'user' });
    return status;
  } catch (error) {
    if (error instanceof CommanderError) {
      // No command (a bare `terrarium`, or `terrarium cache`): commander's help "as an error".
      if (error.code === 'commander.help' && error.exitCode !== 0) {
        context.stderr.write(SHORT_USAGE);
        return EXIT.usage;
      }
      if (['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(error.code)) return EXIT.ok;
      if (error.code === 'commander.executeSubCommandAsync') return status;
      const usage = new TerrariumError('USAGE', commanderMessage(error.message), { hint: 'run terrarium --help for usage' });
      createReporter(context, 0).error(usage);
      if (argv.includes('--json')) createReporter(context, 0).document({ ok: false, error: errorDocument(usage, EXIT.usage) });
      return EXIT.usage;
    }
    createReporter(context, 0).error(error);
    return EXIT.internal;
  }
}

function processContext(): CliContext {
  // A reader that stops early closes the pipe: stop quietly, not with Node's stack trace for EPIPE.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      process.exit(EXIT.brokenPipe);
    });
  }
  return { env: process.env, cwd: process.cwd(), stdout: process.stdout, stderr: process.stderr, signal: abortOnSignals() };
}

/** Commander's message in terrarium's shape: `error: unknown option '--x'\n(Did you mean --y?)` -> one line. */
function commanderMessage(message: string): string {
  return message
    .replace(/^error: /, '')
    .replace(/\n\(Did you mean (.*)\)$/, ' (did you mean $1)')
    .replace(/\n/g, ' ');
}

function errorDocument(error: unknown, exitCode: number): { code: string; message: string; hint: string | null; exitCode: number } {
  if (error instanceof TerrariumError) return { code: error.code, message: error.message, hint: error.hint ?? null, exitCode };
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error), hint: null, exitCode };
}
