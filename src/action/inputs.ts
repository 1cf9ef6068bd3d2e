import { formatBytes } from '../report/format.js';

/**
 * The GitHub Action's inputs, as the runner passes them (`INPUT_NAME`, upper case, dashes kept; the
 * composite action.yml passes them the same way), turned into terrarium's command line and
 * environment. Pure: the entry (github-action.ts) reads the variables and runs what this plans.
 */

/** An input's value, or undefined when it is empty or unset. */
export type ReadInput = (name: string) => string | undefined;

/** The input reader over an environment: `INPUT_S3-BUCKET` as the runner names it, or `INPUT_S3_BUCKET`. */
export function inputsOf(env: NodeJS.ProcessEnv): ReadInput {
  return (name) => {
    const upper = name.toUpperCase();
    const value = env[`INPUT_${upper}`] ?? env[`INPUT_${upper.replace(/-/g, '_')}`];
    return value?.trim() ? value.trim() : undefined;
  };
}

/** Inputs that are options of terrarium, passed as they are (each a global option of the same name). */
const VALUE_OPTIONS = [
  'python',
  'storage-dir',
  'storage-url',
  's3-bucket',
  's3-prefix',
  's3-region',
  's3-endpoint',
  'oci-repository',
  'link-mode',
  'cache-dir',
];
const SWITCH_OPTIONS = ['portable', 'require-download', 's3-path-style', 'oci-insecure'];
/** Credentials go to terrarium through its environment, never its command line (where `ps` would show them). */
const SECRET_INPUTS: Record<string, string> = {
  's3-access-key': 'S3_ACCESS_KEY',
  's3-secret-key': 'S3_SECRET_KEY',
  'oci-username': 'TERRARIUM_OCI_USERNAME',
  'oci-password': 'TERRARIUM_OCI_PASSWORD',
};

export interface ActionPlan {
  /** Global options, before the command. */
  options: string[];
  files: string[];
  target: string;
  /** Variables terrarium runs with, beside the runner's. */
  env: Record<string, string>;
  /** Values the log must never show: each is announced to the runner (`::add-mask::`) first. */
  secrets: string[];
  /** The signing key's text, when given as text rather than a file: the entry writes it to a private file. */
  signKeyText: string | undefined;
}

/** What the inputs ask for; throws a message naming the input when one cannot be used. */
export function planAction(input: ReadInput): ActionPlan {
  const files = splitList(input('requirements'));
  if (!files.length) throw new Error('the requirements input is empty: name one or more requirement or lock files');
  const options: string[] = [];
  for (const name of VALUE_OPTIONS) {
    const value = input(name);
    if (value !== undefined) options.push(`--${name}`, value);
  }
  for (const name of SWITCH_OPTIONS) if (isTrue(input(name), name)) options.push(`--${name}`);
  for (const key of splitLines(input('trust-key'))) options.push('--trust-key', key);
  const env: Record<string, string> = {};
  const secrets: string[] = [];
  for (const [name, variable] of Object.entries(SECRET_INPUTS)) {
    const value = input(name);
    if (value === undefined) continue;
    env[variable] = value;
    if (name !== 'oci-username') secrets.push(value);
  }
  // A minisign secret key's text (from a repository secret), or the path of its file.
  const signKey = input('sign-key');
  const signKeyText = signKey && /^untrusted comment:/.test(signKey) ? `${signKey}\n` : undefined;
  if (signKeyText) secrets.push(...splitLines(signKey));
  else if (signKey) options.push('--sign-key', signKey);
  options.push(...splitList(input('args')));
  return { options, files, target: input('target') ?? '.venv', env, secrets, signKeyText };
}

/**
 * The actions/cache key of this key's cache, and the prefixes it falls back to: the newest cache of
 * the same architecture and Python (whose layers a changed key mostly shares), then any of this OS.
 */
export function cacheKeys(os: string, key: string, digest: string): { key: string; restore: string[] } {
  const base = `terrarium-${os}-`;
  const interpreter = key.endsWith(digest) ? key.slice(0, key.length - digest.length) : undefined;
  return { key: `${base}${key}`, restore: [...(interpreter ? [`${base}${interpreter}`] : []), base] };
}

/** One row of the step summary's table: key, hit or built, time, bytes. */
export interface SummaryRow {
  key: string;
  result: string;
  seconds: number;
  bytes: number;
}

export function summaryTable(rows: SummaryRow[]): string {
  const lines = ['### terrarium', '', '| key | result | time | bytes |', '|---|---|---|---|'];
  for (const row of rows) lines.push(`| \`${row.key}\` | ${row.result} | ${row.seconds.toFixed(1)} s | ${formatBytes(row.bytes)} |`);
  return `${lines.join('\n')}\n`;
}

function isTrue(value: string | undefined, name: string): boolean {
  if (value === undefined) return false;
  if (/^(true|1|yes|on)$/i.test(value)) return true;
  if (/^(false|0|no|off)$/i.test(value)) return false;
  throw new Error(`the ${name} input is "${value}": give true or false`);
}

/** Files or options, one per line or separated by spaces (no file name of a repository has a space, in practice; a quoted one is kept whole). */
function splitList(value: string | undefined): string[] {
  return [...(value ?? '').matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((match) => match[1] ?? match[2] ?? match[3]!);
}

function splitLines(value: string | undefined): string[] {
  return (value ?? '')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}
