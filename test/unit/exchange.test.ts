import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exchangePaths } from '../../src/io/exchange.js';
import { run } from '../../src/io/exec.js';
import { pythonScript } from '../../src/python/scripts.js';

const python = 'python3';

describe('atomic exchange', () => {
  let dir: string;
  let a: string;
  let b: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'terrarium-exchange-'));
    a = path.join(dir, 'a');
    b = path.join(dir, 'b');
    mkdirSync(a);
    mkdirSync(b);
    writeFileSync(path.join(a, 'from-a'), '');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('swaps two directories in one step', async () => {
    expect(await exchangePaths(python, a, b)).toBe(true);
    expect(readdirSync(a)).toEqual([]);
    expect(readdirSync(b)).toEqual(['from-a']);
  });

  it('changes nothing when the run that asked is gone (a helper orphaned by a kill)', async () => {
    // Pid 1 is never the helper's parent here: as if terrarium had died while Python started.
    const result = await run(python, ['-E', '-s', '-S', pythonScript('exchange.py'), '1', a, b]);
    expect(result.code, result.stderr).toBe(5);
    expect(readdirSync(a)).toEqual(['from-a']);
  });
});
