import { Command, CommanderError, Option } from 'commander';
import { EXIT, TerrariumError } from '../errors.js';
import { createReporter } from '../report/reporter.js';
import { TOOL_VERSION } from '../version.js';
import type { CliContext, CommandHandler } from './context.js';
import { findConfigFile, type ConfigFile } from './config-file.js';
import { abortOnSignals } from './interrupt.js';
import { addGlobalOptions, resolveSettings, secretsOf, verbosityOf, type RawOptions } from './options.js';
import { applyConfigFile, effectiveSettings } from './settings-sources.js';

/** Each command's module is loaded only when it runs: `hash` need not load the install pipeline. */
const COMMANDS: Array<{ name: string; summary: string; takesFiles: boolean; handler: () => Promise<CommandHandler>; options?: Option[] }> = [
  { name: 'install', summary: 'restore the environment for these requirements from storage, or build and publish it', takesFiles: true, handler: async () => (await import('./commands/install.js')).installCommand },
  { name: 'key', summary: 'print the archive key for these requirements', takesFiles: true, handler: async () => (await import('./commands/key.js')).keyCommand },
  { name: 'hash', summary: 'print the digest of these requirements', takesFiles: true, handler: async () => (await import('./commands/key.js')).hashCommand },
  { name: 'exists', summary: 'exit 0 if an archive for these requirements is stored, 1 if not', takesFiles: true, handler: async () => (await import('./commands/exists.js')).existsCommand },
  { name: 'revert', summary: 'swap the target with its backup (run again to undo)', takesFiles: false, handler: async () => (await import('./commands/revert.js')).revertCommand },
  { name: 'doctor', summary: 'list what ties the target environment to another place (exit 0: nothing)', takesFiles: false, handler: async () => (await import('./commands/doctor.js')).doctorCommand },
  { name: 'config', summary: 'print the effective settings and where each comes from (command line, environment, terrarium.toml, default)', takesFiles: false, handler: async () => (await import('./commands/config.js')).configCommand },
  { name: 'ls', summary: 'list the archives in each configured store (key, size, date)', takesFiles: false, handler: async () => (await import('./commands/archives.js')).lsCommand },
  {
    name: 'prune',
    summary: 'delete old archives from each writable store',
    takesFiles: false,
    handler: async () => (await import('./commands/archives.js')).pruneCommand,
    options: [
      new Option('--older-than <duration>', 'delete archives created longer ago than this (30d, 12h, 2w)'),
      new Option('--keep <n>', 'keep the N newest archives of each store, delete the rest'),
      new Option('--dry-run', 'say what would be deleted, delete nothing'),
    ],
  },
];

const EXIT_CODES_HELP = `
Exit codes:
  0 success; 1 exists: not stored; 2 usage error; 3 requirements file error; 4 Python interpreter error;
  5 storage error; 6 corrupt or hostile archive; 7 environment build failed (pip's own exit code is
  passed through when pip fails); 8 target error; 9 relocation or smoke check failed;
  10 no archive with --require-download; 11 target locked by another run beyond --lock-timeout;
  70 internal error; 130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP (cleaned up, target unchanged).`;

/** Runs the command line; returns the exit status (nothing here calls process.exit). */
export async function main(argv: string[], context: CliContext = processContext()): Promise<number> {
  let status: number = EXIT.ok;
  const program = addGlobalOptions(new Command('terrarium'))
    .description('Package and ship relocatable Python virtual environments.')
    .version(TOOL_VERSION, '--version')
    .usage('[options] COMMAND [requirements files...]')
    .addHelpText('after', EXIT_CODES_HELP)
    .showSuggestionAfterError(true)
    .showHelpAfterError('(run terrarium --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (text) => context.stdout.write(text), writeErr: (text) => context.stderr.write(text) });

  for (const spec of COMMANDS) {
    const command = program.command(spec.name).description(spec.summary).exitOverride();
    if (spec.takesFiles) command.argument('<requirements...>', 'requirements files (-r/-c includes are followed)');
    for (const option of spec.options ?? []) command.addOption(option);
    command.action(async (...args: unknown[]) => {
      const files = spec.takesFiles ? (args[0] as string[]) : [];
      const raw = command.optsWithGlobals<RawOptions>();
      const reporter = createReporter(context, verbosityOf(raw), {
        secrets: secretsOf(raw, context.env),
        live: raw.progress && context.stderr.isTTY === true,
        // https://no-color.org: set and not empty means no colour.
        color: !context.env.NO_COLOR,
      });
      try {
        const settings = resolveSettings(raw, context.cwd, context.env);
        const handler = await spec.handler();
        status = await handler({ settings, files, options: command.opts(), context, reporter, effective: () => effectiveSettings(program, config), configFile: config?.path });
      } catch (error) {
        reporter.error(error);
        status = error instanceof TerrariumError ? error.exitCode : EXIT.internal;
        // A CI script reading stdout gets a document either way.
        if (raw.json) reporter.document({ ok: false, error: errorDocument(error, status) });
      }
    });
  }

  let config: ConfigFile | undefined;
  try {
    config = findConfigFile(context.cwd);
    if (config) applyConfigFile(program, config);
  } catch (error) {
    createReporter(context, 0).error(error);
    return error instanceof TerrariumError ? error.exitCode : EXIT.internal;
  }

  try {
    await program.parseAsync(argv, { from: 'user' });
    return status;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT.ok;
      if (error.code === 'commander.executeSubCommandAsync') return status;
      return EXIT.usage;
    }
    createReporter(context, 0).error(error);
    return EXIT.internal;
  }
}

function processContext(): CliContext {
  return { env: process.env, cwd: process.cwd(), stdout: process.stdout, stderr: process.stderr, signal: abortOnSignals(process.stderr) };
}

function errorDocument(error: unknown, exitCode: number): { code: string; message: string; hint: string | null; exitCode: number } {
  if (error instanceof TerrariumError) return { code: error.code, message: error.message, hint: error.hint ?? null, exitCode };
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error), hint: null, exitCode };
}
