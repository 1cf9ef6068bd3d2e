import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pythonScript } from '../../src/python/scripts.js';
import { python3 } from '../helpers/python.js';

const work = mkdtempSync(path.join(tmpdir(), 'terrarium-seed-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Every path under root with what a reader of it sees: the content with root's path taken out, and the mode. */
function tree(root: string): Map<string, { content: string; mode: number }> {
  const out = new Map<string, { content: string; mode: number }>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      const rel = path.relative(root, file);
      const { mode } = lstatSync(file);
      if (entry.isDirectory()) walk(file);
      // Bytecode records its source's mtime, different in any two installs.
      const content = entry.isFile() && !rel.endsWith('.pyc') ? readFileSync(file, 'utf8').split(root).join('ENV') : '';
      out.set(rel, { content: rel.endsWith('/RECORD') ? recordRows(content) : content, mode });
    }
  };
  walk(root);
  return out;
}

/** A RECORD's rows as a sorted set, without the hashes of scripts (they hold the environment's path). */
const recordRows = (text: string) =>
  [...new Set(text.split('\n').map((row) => (row.startsWith('../../../bin/') ? row.split(',')[0]! : row)))].sort().join('\n');

describe('seeding pip', () => {
  it('makes the environment that python -m venv makes with ensurepip, file for file', () => {
    const python = python3();
    // One name in two places: activate scripts hold the name as their prompt.
    const ensured = path.join(work, 'ensurepip', 'env');
    const seeded = path.join(work, 'seed-pip', 'env');
    execFileSync(python, ['-m', 'venv', ensured]);
    execFileSync(python, ['-m', 'venv', '--without-pip', seeded]);
    execFileSync(path.join(seeded, 'bin', path.basename(python)), [pythonScript('seed_pip.py')]);
    const want = tree(ensured);
    const got = tree(seeded);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    // pyvenv.cfg names the command that made it.
    for (const [rel, entry] of want) if (rel !== 'pyvenv.cfg') expect(got.get(rel), rel).toEqual(entry);
    const pip = execFileSync(path.join(seeded, 'bin', 'pip'), ['--version'], { encoding: 'utf8' });
    expect(pip).toContain(`from ${seeded}/lib/`);
  });
});
