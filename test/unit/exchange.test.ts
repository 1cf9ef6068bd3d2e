import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startExchanger } from '../../src/target/exchange.js';
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
    expect(await startExchanger(python).exchange(a, b)).toBe(true);
    expect(readdirSync(a)).toEqual([]);
    expect(readdirSync(b)).toEqual(['from-a']);
  });

  it('a helper started ahead waits for the paths, and changes nothing when let go without them', async () => {
    const early = startExchanger(python);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(readdirSync(a)).toEqual(['from-a']);
    expect(await early.exchange(a, b)).toBe(true);
    expect(readdirSync(b)).toEqual(['from-a']);
    // Let go unused, as after a failed smoke check: it exits (else this waits until the test times out).
    const unused = startExchanger(python);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await unused.close();
    expect(readdirSync(b)).toEqual(['from-a']);
  });

  it('reports a failed exchange with its reason', async () => {
    await expect(startExchanger(python).exchange(a, path.join(dir, 'missing'))).rejects.toThrow(/cannot exchange .*: No such file or directory/);
  });

  it('changes nothing when the run that asked is gone (a helper orphaned by a kill)', async () => {
    // Pid 1 is never the helper's parent here: as if terrarium had died while Python started.
    const result = await run(python, ['-E', '-s', '-S', pythonScript('exchange.py'), '1'], {
      stdin: true,
      onSpawn: (child) => child.stdin!.end(`${a}\0${b}\0`),
    });
    expect(result.code, result.stderr).toBe(5);
    expect(readdirSync(a)).toEqual(['from-a']);
  });
});
