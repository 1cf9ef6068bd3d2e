import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeTree } from '../../src/io/fs.js';

let work: string;
const at = (...parts: string[]) => path.join(work, ...parts);
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), 'terrarium-remove-'));
  // Beside every tree below: what links inside them point to, which must survive.
  mkdirSync(at('outside'));
  writeFileSync(at('outside', 'keep.txt'), 'kept');
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

describe('removeTree', () => {
  it('removes a whole tree, unlinking the links inside without following them', async () => {
    mkdirSync(at('env', 'lib', 'pkg', 'sub'), { recursive: true });
    mkdirSync(at('env', 'empty'));
    writeFileSync(at('env', 'lib', 'pkg', 'a.py'), 'a');
    writeFileSync(at('env', 'lib', 'pkg', 'sub', 'b.py'), 'b');
    symlinkSync(at('outside'), at('env', 'lib', 'to-outside'));
    symlinkSync('missing', at('env', 'dangling'));
    await removeTree(at('env'));
    expect(existsSync(at('env'))).toBe(false);
    expect(readFileSync(at('outside', 'keep.txt'), 'utf8')).toBe('kept');
  });

  it('removes a symlink to a folder as a link, leaving the folder', async () => {
    symlinkSync(at('outside'), at('link'));
    await removeTree(at('link'));
    expect(existsSync(at('link'))).toBe(false);
    expect(readFileSync(at('outside', 'keep.txt'), 'utf8')).toBe('kept');
  });

  it('removes a plain file, and is content when there is nothing', async () => {
    writeFileSync(at('file'), 'x');
    await removeTree(at('file'));
    expect(existsSync(at('file'))).toBe(false);
    await expect(removeTree(at('never-was'))).resolves.toBeUndefined();
  });
});
