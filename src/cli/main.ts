import { Command, CommanderError, Help } from 'commander';
import { EXIT, TerrariumError } from '../errors.js';
import type { Settings } from '../install/settings.js';
import { createReporter } from '../report/reporter.js';
import { TOOL_VERSION } from '../version.js';
import { COMMANDS, type CommandSpec, EXIT_CODES_HELP, optionApplies, SHORT_USAGE } from './command-table.js';
import { describeCli } from './completion.js';
import { type ConfigFile, findConfigFile, whereSet } from './config-file.js';
import type { CliContext } from './context.js';
import { abortOnSignals, interruptNotice } from './interrupt.js';
import { commanderOption } from './option-spec.js';
import { COMMAND_OPTIONS, commandOptionSpecs, longFlag, type RawOptions, specFor } from './option-table.js';
import { parseOptions } from './option-values.js';
import { addGlobalOptions, type OptionName, resolveSettings, verbosityOf } from './options.js';
import { secretsOf } from './secrets.js';
import { applyConfigFile, applyEnvironment, closest, effectiveSettings } from './settings-sources.js';
import { outputStyle } from './terminal.js';

// The build writes the man page from the same tables as --help (scripts/build.mjs).
export { manPage } from './man-page.js';

/** Runs the command line; returns the exit status (nothing here calls process.exit). */
export async function main(argv: string[], context: CliContext = processContext()): Promise<number> {
  let status: number = EXIT.ok;
  let config: ConfigFile | undefined;
  const program = newProgram(context);
  for (const spec of COMMANDS) {
    const command = addCommand(program, spec);
    command.action(async (...args: unknown[]) => {
      const files = spec.argument ? [args[0] as string | string[]].flat() : [];
      status = await runCommand({ spec, command, program, files, context, config });
    });
  }

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
    if (!(error instanceof CommanderError)) {
      createReporter(context, 0).error(error);
      return EXIT.internal;
    }
    // No command (a bare `terrarium`, or `terrarium cache`): commander's help "as an error"; but
    // `help NAME` for no command is an unknown command, as `NAME` alone would be.
    const asked = error.code === 'commander.help' && error.exitCode !== 0 ? helpAskedFor(argv, program) : undefined;
    if (error.code === 'commander.help' && error.exitCode !== 0 && !asked) {
      context.stderr.write(SHORT_USAGE);
      return EXIT.usage;
    }
    if (['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(error.code) && !asked) return EXIT.ok;
    if (error.code === 'commander.executeSubCommandAsync') return status;
    const guess =
      asked &&
      closest(
        asked,
        program.commands.map((c) => c.name()),
      );
    const message = asked ? `unknown command '${asked}'${guess ? ` (did you mean ${guess}?)` : ''}` : commanderMessage(error.message);
    const usage = new TerrariumError('USAGE', message, { hint: 'run terrarium --help for usage' });
    const reporter = createReporter(context, 0);
    reporter.error(usage);
    if (argv.includes('--json')) reporter.document({ ok: false, error: errorDocument(usage, EXIT.usage) });
    return EXIT.usage;
  }
}

/** `help NAME` where NAME is no command: the name asked for. */
function helpAskedFor(argv: string[], program: Command): string | undefined {
  const at = argv.indexOf('help');
  const asked = at < 0 ? undefined : argv[at + 1];
  return asked && !asked.startsWith('-') && !program.commands.some((c) => c.name() === asked) ? asked : undefined;
}

/** The program with its global options, help and version; commander's own error output turned off. */
function newProgram(context: CliContext): Command {
  return (
    addGlobalOptions(new Command('terrarium'))
      .description('Package and ship relocatable Python virtual environments.')
      .version(TOOL_VERSION, '--version')
      .usage('[options] COMMAND [requirements files...]')
      .addHelpText('after', EXIT_CODES_HELP)
      .showSuggestionAfterError(true)
      .configureHelp({ formatHelp })
      .exitOverride()
      // Commander's own error lines are replaced by terrarium's (main); the help it prints for a missing
      // command is replaced by the short usage.
      .configureOutput({ writeOut: (text) => context.stdout.write(text), writeErr: () => undefined, outputError: () => undefined })
  );
}

/** The original's help began `usage: terrarium ...`, as argparse writes it. */
function formatHelp(this: Help, command: Command, helper: Help): string {
  return Help.prototype.formatHelp.call(this, command, helper).replace(/^Usage:/, 'usage:');
}

/** One command of the table, with its argument, own options, examples and help. */
function addCommand(program: Command, spec: CommandSpec): Command {
  // `cache verify`: a command of the `cache` group.
  const [group, name] = spec.name.includes(' ') ? (spec.name.split(' ') as [string, string]) : [undefined, spec.name];
  const parent = group
    ? (program.commands.find((c) => c.name() === group) ?? program.command(group).description(`${group} commands (terrarium ${group} --help)`).exitOverride())
    : program;
  const command = parent.command(name).description(spec.summary).exitOverride();
  if (spec.argument) command.argument(...spec.argument);
  for (const option of spec.options ? commandOptionSpecs(spec.options) : []) command.addOption(commanderOption(option));
  // Its help lists, after its own, the global options it reads, under the headings --help gives them.
  const globals = program.options.filter((option) => optionApplies(spec, option.attributeName()));
  command.configureHelp({ formatHelp, visibleOptions: (cmd) => [...Help.prototype.visibleOptions.call(new Help(), cmd), ...globals] });
  if (spec.examples) command.addHelpText('after', `\nExamples:\n${spec.examples.map((line) => `  $ ${line}`).join('\n')}\n`);
  command.addHelpText('after', '\nOptions go before or after the command; terrarium --help lists every option.\n');
  return command;
}

interface CommandRun {
  spec: CommandSpec;
  command: Command;
  program: Command;
  files: string[];
  context: CliContext;
  config: ConfigFile | undefined;
}

/** Runs one command's handler with the run's settings and reporter; returns its exit status, an error's included. */
async function runCommand({ spec, command, program, files, context, config }: CommandRun): Promise<number> {
  const raw = command.optsWithGlobals<RawOptions>();
  const reporter = createReporter(context, verbosityOf(raw), {
    secrets: secretsOf(raw, context.env),
    home: context.env.HOME,
    ...outputStyle(raw, context.stderr, context.env),
  });
  const announce = () => reporter.info(interruptNotice(context.signal?.reason));
  context.signal?.addEventListener('abort', announce, { once: true });
  try {
    // Messages name an option as the user gave it: the variable when it came from the environment.
    // From a configuration file: its key, the file and the line.
    const nameOf: OptionName = (option) => {
      const source = program.getOptionValueSource(option);
      if (source === 'env') return specFor(option).env!;
      if (source === 'config' && config) return `${longFlag(option).slice(2)} (${whereSet(config.path, longFlag(option).slice(2))})`;
      return longFlag(option);
    };
    const { settings, settingsError } = resolveFor(spec, raw, context, nameOf);
    const handler = await spec.handler();
    return await handler({
      settings,
      settingsError,
      files,
      commandOptions: (name) => parseOptions(COMMAND_OPTIONS[name], command.opts(), { cwd: context.cwd, env: context.env }),
      context,
      reporter,
      effective: () => effectiveSettings(program, config, context.env),
      configFile: config?.path,
      cli: () => describeCli(program),
    });
  } catch (error) {
    reporter.error(error);
    const status = error instanceof TerrariumError ? error.exitCode : EXIT.internal;
    // A CI script reading stdout gets a document either way.
    if (raw.json) reporter.document({ ok: false, error: errorDocument(error, status) });
    return status;
  } finally {
    context.signal?.removeEventListener('abort', announce);
  }
}

/** The run's settings; a tolerant command gets the defaults and the reason instead of an error. */
function resolveFor(spec: CommandSpec, raw: RawOptions, context: CliContext, nameOf: OptionName): { settings: Settings; settingsError?: TerrariumError } {
  try {
    return { settings: resolveSettings(raw, context.cwd, context.env, nameOf) };
  } catch (error) {
    if (!spec.tolerant || !(error instanceof TerrariumError)) throw error;
    const defaults = addGlobalOptions(new Command()).opts<RawOptions>();
    return { settings: resolveSettings({ ...defaults, json: raw.json }, context.cwd, {}), settingsError: error };
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
