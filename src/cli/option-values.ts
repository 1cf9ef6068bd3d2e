import path from 'node:path';
import { TerrariumError } from '../errors.js';
import { shownUrl } from '../report/shown-url.js';
import { type CommandOptionSpec, flagOf, type OptionSpec } from './option-spec.js';
import { parseDuration, parseNonNegative, parseSize } from './units.js';

type Spec = OptionSpec | CommandOptionSpec;
type Absent<S extends Spec> = S extends { default: string } ? never : undefined;

/** What an option's kind parses to: numbers for quantities (seconds, bytes, milliseconds), absolute paths. */
type ValueOf<S extends Spec> = S['kind'] extends 'switch'
  ? boolean
  : S['kind'] extends 'count'
    ? number
    : S['kind'] extends 'list'
      ? string[]
      : S['kind'] extends 'seconds' | 'whole' | 'size' | 'duration'
        ? number | Absent<S>
        : (S extends { choices: readonly (infer C)[] } ? C : string) | Absent<S>;

/** Every option of a table, parsed by its kind. */
export type OptionValues<T extends Record<string, Spec>> = { -readonly [K in keyof T]: ValueOf<T[K]> };

export interface ParseContext {
  /** What relative paths are relative to. */
  cwd: string;
  /** The run's environment (for a list's comma-separated variable). */
  env: NodeJS.ProcessEnv;
  /** How a message names an option: as the user gave it (`S3_TIMEOUT` when it came from the environment); by default its long flag. */
  nameOf?: (option: string) => string;
}

/** Parses every option of `table` from commander's raw values; the first bad one is a usage error naming it. */
export function parseOptions<T extends Record<string, Spec>>(table: T, raw: Record<string, unknown>, context: ParseContext): OptionValues<T> {
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) values[name] = parseValue(spec, raw[name], context.nameOf?.(name) ?? flagOf(spec), context);
  return values as OptionValues<T>;
}

function parseValue(spec: Spec, value: unknown, name: string, context: ParseContext): unknown {
  switch (spec.kind) {
    case 'switch':
      return value === true;
    case 'count':
      return typeof value === 'number' ? value : 0;
    case 'list': {
      // One value from a configuration file, a list from repeated options, a comma-separated list from the environment.
      const fallback = 'fallbackEnv' in spec && spec.fallbackEnv ? (context.env[spec.fallbackEnv] ?? '').split(',') : [];
      return [...[value ?? []].flat(), ...fallback].map((item) => String(item).trim()).filter(Boolean);
    }
    default:
      if (value === undefined) return undefined;
  }
  const text = String(value);
  switch (spec.kind) {
    case 'path':
    case 'program':
      // path.resolve(cwd, '') is the current directory: an empty --target would replace it.
      if (text.trim() === '') throw new TerrariumError('USAGE', `empty ${name}`, { hint: `give ${name} a path, or leave the option out` });
      return spec.kind === 'path' ? path.resolve(context.cwd, text) : text;
    case 'url':
      return checkedUrl(text, name);
    case 'seconds':
      return parseNonNegative(text, name);
    case 'whole':
      return parseNonNegative(text, name, true);
    case 'size':
      return parseSize(text, name);
    case 'duration':
      return parseDuration(text, name);
    default:
      return text;
  }
}

/** An http(s) URL without credentials: logs and process lists would show them. */
function checkedUrl(url: string, name: string): string {
  if (!/^https?:\/\/[^/]/.test(url) || !URL.canParse(url))
    throw new TerrariumError('USAGE', `bad ${name} "${shownUrl(url)}"`, { hint: 'give an http:// or https:// URL' });
  const parsed = new URL(url);
  if (parsed.username || parsed.password) {
    throw new TerrariumError(
      'USAGE',
      `${name} holds credentials (${shownUrl(url)}); they are not read from URLs, where logs and process lists would show them`,
      {
        hint: 'put credentials in S3_ACCESS_KEY and S3_SECRET_KEY or the AWS credential chain; --storage-url takes only stores readable without any',
      },
    );
  }
  return url;
}
