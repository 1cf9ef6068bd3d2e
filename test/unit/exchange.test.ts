import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../src/io/exec.js';
import { pythonScript } from '../../src/python/scripts.js';
import { startExchanger } from '../../src/target/exchange.js';

const python = 'python3';

/** The read(2) system call's number, as /proc/PID/syscall shows it. */
const READ = process.arch === 'arm64' ? '63' : '0';

const readIfThere = (file: string): string | undefined => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/** Resolves once this process's only child is blocked reading its stdin: the helper has started and waits for the paths. */
async function helperWaiting(): Promise<void> {
  for (;;) {
    const [child] = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(' ').filter(Boolean);
    // Not spawned yet, or gone between the two reads: look again.
    const call = child ? (readIfThere(`/proc/${child}/syscall`) ?? '').split(' ') : [];
    if (call[0] === READ && call[1] === '0x0') return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

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
    await helperWaiting();
    expect(readdirSync(a)).toEqual(['from-a']);
    expect(await early.exchange(a, b)).toBe(true);
    expect(readdirSync(b)).toEqual(['from-a']);
    // Let go unused, as after a failed smoke check: it exits (else this waits until the test times out).
    const unused = startExchanger(python);
    await helperWaiting();
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
