import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/command-table.js';
import { manPage } from '../../src/cli/man-page.js';
import type { OptionSpec } from '../../src/cli/option-spec.js';
import { COMMAND_OPTIONS, longFlag, OPTIONS, optionSpecs } from '../../src/cli/option-table.js';
import { parseOptions } from '../../src/cli/option-values.js';
import { addGlobalOptions } from '../../src/cli/options.js';

describe('the option table', () => {
  it('names each option as commander does, so that raw values, files and masking find it', () => {
    for (const [name, spec] of optionSpecs()) expect(new Option(spec.flags).attributeName(), spec.flags).toBe(name);
  });

  it('is what the command line defines, in its order', () => {
    const program = addGlobalOptions(new Command('terrarium'));
    expect(program.options.map((option) => option.attributeName())).toEqual(Object.keys(OPTIONS));
    const secret = program.options.filter((option) => option.description.includes('never printed')).map((option) => option.attributeName());
    expect(secret.every((name) => (OPTIONS as Record<string, { secret?: true }>)[name]!.secret)).toBe(true);
  });

  it('has every option and environment variable in the README', () => {
    const readme = readFileSync('README.md', 'utf8');
    const missing = optionSpecs().flatMap(([name, spec]) => [longFlag(name), spec.env ?? ''].filter((word) => word && !readme.includes(word)));
    expect(missing).toEqual([]);
  });

  it('is what the man page lists, with every command', () => {
    const page = manPage();
    for (const [name] of optionSpecs()) expect(page).toContain(`\\fB${longFlag(name).replace(/-/g, '\\-')}\\fR`);
    for (const command of COMMANDS) expect(page).toContain(`\\fB${command.name.replace(/-/g, '\\-')}\\fR`);
    expect(page).toMatch(/^\.TH TERRARIUM 1 /);
  });
});

describe('option kinds', () => {
  it('agree with the flags: a switch or count takes no value, every other kind takes one', () => {
    const all = [...optionSpecs().map(([, spec]) => spec), ...Object.values(COMMAND_OPTIONS).flatMap((table) => Object.values(table))];
    for (const spec of all) expect(spec.flags.includes('<'), spec.flags).toBe(!['switch', 'count'].includes(spec.kind));
  });

  const one = (kind: OptionSpec['kind'], value: unknown, env: NodeJS.ProcessEnv = {}) =>
    parseOptions({ x: { kind, flags: '--x <v>', help: '', group: 'install', fallbackEnv: 'X_LIST' } }, { x: value }, { cwd: '/work', env }).x;

  it.each([
    ['switch', true, true],
    ['switch', undefined, false],
    ['count', 2, 2],
    ['count', undefined, 0],
    ['list', ['a', ' b '], ['a', 'b']],
    ['list', 'one', ['one']],
    ['path', 'envs/a', '/work/envs/a'],
    ['path', '/abs', '/abs'],
    ['program', 'python3.12', 'python3.12'],
    ['url', 'https://example.com/envs?token=t', 'https://example.com/envs?token=t'],
    ['seconds', '2.5', 2.5],
    ['whole', '3', 3],
    ['size', '2M', 2 << 20],
    ['duration', '1d12h', 36 * 3_600_000],
    ['text', undefined, undefined],
    ['seconds', undefined, undefined],
  ] as const)('%s %j parses to %j', (kind, value, expected) => {
    expect(one(kind, value)).toEqual(expected);
  });

  it('reads a list from its comma-separated variable too', () => {
    expect(one('list', ['a'], { X_LIST: 'b, c,' })).toEqual(['a', 'b', 'c']);
  });

  it.each([
    ['path', ' ', 'empty --x'],
    ['program', '', 'empty --x'],
    ['url', 'ftp://example.com', 'bad --x'],
    ['url', 'https://user:pw@example.com', '--x holds credentials'],
    ['seconds', '-1', 'bad --x "-1"'],
    ['whole', '1.5', 'bad --x "1.5"'],
    ['size', '5Q', 'bad --x "5Q"'],
    ['duration', '3 days', 'bad --x "3 days"'],
  ] as const)('%s %j is a usage error', (kind, value, message) => {
    expect(() => one(kind, value)).toThrow(expect.objectContaining({ code: 'USAGE', message: expect.stringContaining(message) }));
  });
});
