import type { Command, Option } from 'commander';
import { closest as closestOf, distance } from 'fastest-levenshtein';
import { TerrariumError } from '../errors.js';
import { badFile, type ConfigFile, whereSet } from './config-file.js';
import type { OptionSpec } from './option-spec.js';
import { OPTIONS } from './option-table.js';

/** The table's entry for one of commander's options; undefined for commander's own (--help, --version). */
const specOf = (option: Option): OptionSpec | undefined => (OPTIONS as Record<string, OptionSpec>)[option.attributeName()];

/** Where an option's value came from, for `terrarium config`. */
export interface EffectiveSetting {
  option: string;
  value: unknown;
  source: string;
}

/** The key a file uses for an option: its long name without dashes (`storage-dir`; `cache` for `--no-cache`). */
function keyOf(option: Option): string {
  const long = option.long!.slice(2);
  return option.negate ? long.slice('no-'.length) : long;
}

/**
 * Gives every option the file sets that value, marked as coming from the file. Commander then lets an
 * environment variable override it, and the command line override both: command line > environment >
 * file > built-in default. Keys may use dashes or underscores; unknown keys and wrong types are errors
 * (a typo in a shared file should not be silently ignored).
 */
export function applyConfigFile(program: Command, file: ConfigFile): void {
  // Options that describe one run, not a project (--target, --json), are not for a file to set.
  const settable = program.options.filter((option) => specOf(option) && !specOf(option)!.perRun);
  const perRun = new Map(program.options.filter((option) => specOf(option)?.perRun).map((option) => [keyOf(option), specOf(option)!]));
  const byKey = new Map(settable.map((option) => [keyOf(option), option]));
  for (const [rawKey, value] of Object.entries(file.values)) {
    const key = rawKey.replace(/_/g, '-');
    const option = byKey.get(key);
    const where = whereSet(file.path, key);
    const oneRun = perRun.get(key);
    if (oneRun) {
      throw badFile(where, `"${rawKey}" describes one run and cannot be set in a file; pass --${key}${oneRun.env ? ` (or set ${oneRun.env})` : ''} instead`);
    }
    if (!option) {
      const guess = closest(key, [...byKey.keys()]);
      throw badFile(where, `unknown setting "${rawKey}"${guess ? ` (did you mean "${guess}"?)` : ''}`);
    }
    program.setOptionValueWithSource(option.attributeName(), valueFor(option, key, value, where), 'config');
  }
}

function valueFor(option: Option, key: string, value: unknown, file: string): unknown {
  if (option.negate || option.isBoolean()) {
    if (typeof value !== 'boolean') throw badFile(file, `"${key}" takes true or false`);
    return value;
  }
  if (specOf(option)?.kind === 'count') {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw badFile(file, `"${key}" takes 0, 1 or 2`);
    return value;
  }
  if (typeof value !== 'string' && typeof value !== 'number') throw badFile(file, `"${key}" takes a string or a number`);
  const text = String(value);
  if (option.argChoices && !option.argChoices.includes(text)) throw badFile(file, `"${key}" must be one of ${option.argChoices.join(', ')} (not "${text}")`);
  return text;
}

/** Every option's value and its source (the variable it falls back to included); secrets masked here. */
export function effectiveSettings(program: Command, file: ConfigFile | undefined, env: NodeJS.ProcessEnv): EffectiveSetting[] {
  const values = program.opts();
  return program.options
    .filter((option) => specOf(option))
    .map((option) => {
      const spec = specOf(option)!;
      const attribute = option.attributeName();
      const source = program.getOptionValueSource(attribute);
      let value: unknown = values[attribute];
      let describe = SOURCE_NAMES[source ?? ''] ?? 'not set';
      if (source === 'env') describe = `environment ${spec.env}`;
      if (source === 'config') describe = file!.path;
      // A variable read while resolving (AWS_REGION, S3_PATH_STYLE, TERRARIUM_TRUSTED_KEYS) where nothing above it was given.
      const fallback = spec.fallbackEnv === undefined ? undefined : env[spec.fallbackEnv];
      if ((source === undefined || source === 'default') && fallback) {
        value = fallback;
        describe = `environment ${spec.fallbackEnv}`;
      }
      // Masked here, before anything serialises it: no secret's length or characters can slip past.
      if (spec.secret && value !== undefined) value = '***';
      return { option: keyOf(option), value, source: describe };
    });
}

const SOURCE_NAMES: Record<string, string> = { cli: 'command line', default: 'default' };

/** The candidate within two edits of `word`, if any (for "did you mean"). */
export function closest(word: string, candidates: string[]): string | undefined {
  const best = candidates.length ? closestOf(word, candidates) : undefined;
  return best !== undefined && distance(word, best) <= 2 ? best : undefined;
}

/**
 * Gives every option whose variable the run's environment sets that value, marked as coming from the
 * environment: above a configuration file, below the command line (which commander applies next). The
 * environment is the run's (`CliContext.env`), not this process's, so the library and tests can run the
 * command line with any. A variable set to nothing (`TERRARIUM_CACHE_DIR=` in a CI file) means "not
 * set", as shells and most tools read it.
 */
export function applyEnvironment(program: Command, env: NodeJS.ProcessEnv): void {
  for (const option of program.options) {
    const spec = specOf(option);
    const value = spec?.env === undefined ? undefined : env[spec.env];
    if (value === undefined || value === '') continue;
    if (option.argChoices && !option.argChoices.includes(value)) {
      throw new TerrariumError('USAGE', `bad ${spec!.env} "${value}"`, { hint: `set it to one of ${option.argChoices.join(', ')}, or unset it` });
    }
    program.setOptionValueWithSource(option.attributeName(), spec!.kind === 'switch' ? switchValue(spec!.env!, value) : value, 'env');
  }
}

/** A switch's variable: `1`, `true`, `yes`, `on` or their opposites, as shells and CI files write them. */
function switchValue(name: string, value: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new TerrariumError('USAGE', `bad ${name} "${value}"`, { hint: 'set it to 1 or 0 (true or false), or unset it' });
}
