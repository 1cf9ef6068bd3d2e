import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/errors.js';

/** Scripts branch on exit codes: the README's table and `--help` must name every one errors.ts can return, and no other. */
describe('exit codes are documented where users look', () => {
  const codes = [...new Set(Object.values(EXIT))].sort((a, b) => a - b);

  it('the README table lists each code of errors.ts, and only those', () => {
    const readme = readFileSync('README.md', 'utf8');
    const table = readme.slice(readme.indexOf('## Exit codes'), readme.indexOf('Every error is one line'));
    const listed = [...table.matchAll(/^\| ([\d, ]+) \|/gm)].flatMap((m) => m[1]!.split(',').map((n) => Number(n.trim())));
    // 143 and 129 are 128 + SIGTERM/SIGHUP: the same "interrupted" code family as 130.
    expect([...new Set(listed)].filter((n) => n !== 143 && n !== 129).sort((a, b) => a - b)).toEqual(codes);
  });

  it('--help names each of them', () => {
    const help = readFileSync('src/cli/command-table.ts', 'utf8');
    const text = help.slice(help.indexOf('Exit codes:'), help.indexOf('/** What a bare'));
    for (const code of codes) expect(text, `exit ${code} in --help`).toMatch(new RegExp(`(^|[\\s;/])${code}[ /]`));
  });
});
