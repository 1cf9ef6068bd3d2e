import { Option } from 'commander';

/** Where an option is listed in --help, most used first. */
export const OPTION_GROUPS = ['install', 'storage', 's3', 'oci', 'cache', 'trust', 'build', 'output'] as const;
export type OptionGroup = (typeof OPTION_GROUPS)[number];

export const GROUP_TITLES: Record<OptionGroup, string> = {
  install: 'Install options:',
  storage: 'Storage options:',
  s3: 'S3 options:',
  oci: 'OCI registry options:',
  cache: 'Cache options:',
  trust: 'Signing options:',
  build: 'Build and key options:',
  output: 'Output options:',
};

/**
 * What an option's value is, from which its parsing derives (option-values.ts): `switch` takes no
 * value (`--no-x` turns a default-on one off), `count` repeats (-VV), `list` collects every value
 * given; the others take one value, checked as their kind says (a `path` is made absolute, a
 * `program` is a name on PATH or a path, kept as given).
 */
export const VALUE_KINDS = ['switch', 'count', 'list', 'text', 'choice', 'path', 'program', 'url', 'seconds', 'whole', 'size', 'duration'] as const;
export type ValueKind = (typeof VALUE_KINDS)[number];

/** One option of the command line. */
export interface OptionSpec {
  kind: ValueKind;
  flags: string;
  help: string;
  group: OptionGroup;
  /** The environment variable that sets it (read from the run's environment, never by commander from process.env). */
  env?: string;
  /**
   * A variable read while resolving it, under the option's own (AWS_REGION under S3_REGION) or as its
   * only one (S3_PATH_STYLE, TERRARIUM_TRUSTED_KEYS, comma-separated for a list); `config` names it as
   * the source when it is used.
   */
  fallbackEnv?: string;
  /** How --help names the variables, when that says more than `env` (`S3_PATH_STYLE=1`). */
  envNote?: string;
  default?: string;
  choices?: readonly string[];
  /** A credential: masked in `config`, and every value given kept out of all output. */
  secret?: true;
  /** Describes one run, not a project: a configuration file may not set it. */
  perRun?: true;
}

export type CommandOptionSpec = Omit<OptionSpec, 'group' | 'env' | 'fallbackEnv' | 'envNote' | 'secret' | 'perRun'>;

/** Commander's definition of one option of a table (a command's own options have no group: their command's help lists them). */
export function commanderOption(spec: OptionSpec | CommandOptionSpec): Option {
  const env = 'group' in spec ? (spec.env ?? spec.envNote) : undefined;
  const option = new Option(spec.flags, spec.help + (env ? ` (env: ${env})` : ''));
  if ('group' in spec) option.helpGroup(GROUP_TITLES[spec.group]);
  // Shown as typed (3, not "3"): the value is a string only because commander parses it later.
  if (spec.default !== undefined) option.default(spec.default, spec.default);
  if (spec.choices) option.choices(spec.choices);
  if (spec.kind === 'count') option.argParser((_: string, count: number) => count + 1).default(0);
  if (spec.kind === 'list') option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
  return option;
}

/** An option's long flag (`--s3-access-key`), as messages name it. */
export const flagOf = (spec: Pick<OptionSpec, 'flags'>): string => spec.flags.match(/--[a-z0-9-]+/)![0];
