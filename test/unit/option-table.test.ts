import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { OPTIONS, longFlag, optionSpecs } from '../../src/cli/option-table.js';
import { COMMANDS } from '../../src/cli/command-table.js';
import { manPage } from '../../src/cli/man-page.js';
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
