import type { TerrariumError } from '../errors.js';
import type { Settings } from '../install/settings.js';
import type { Reporter, ReporterStreams } from '../report/reporter.js';
import type { CliDescription } from './completion.js';
import type { COMMAND_OPTIONS, CommandWithOptions } from './option-table.js';
import type { OptionValues } from './option-values.js';
import type { EffectiveSetting } from './settings-sources.js';

/** Everything a command reads from the outside world, passed in so tests can run the real code. */
export interface CliContext extends ReporterStreams {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted when the user interrupts the run (SIGINT, SIGTERM, SIGHUP). */
  signal?: AbortSignal;
}

export interface CommandInput {
  settings: Settings;
  files: string[];
  /** For a tolerant command: why the settings could not be resolved (then `settings` holds the defaults). */
  settingsError?: TerrariumError | undefined;
  /** The command's own options (for those that have some, such as prune), parsed as their kinds say. */
  commandOptions: <C extends CommandWithOptions>(command: C) => OptionValues<(typeof COMMAND_OPTIONS)[C]>;
  context: CliContext;
  reporter: Reporter;
  /** Every global option's value and where it came from (for `terrarium config`). */
  effective: () => EffectiveSetting[];
  /** The terrarium.toml or pyproject.toml that supplied defaults, if any. */
  configFile: string | undefined;
  /** The command line's commands and options (for completion scripts). */
  cli: () => CliDescription;
}

/** A command returns its exit status; failures are thrown as TerrariumError. */
export type CommandHandler = (input: CommandInput) => Promise<number>;
