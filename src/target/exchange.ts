import type { ChildProcess } from 'node:child_process';
import { archiveCodeEnv, type RunResult, run } from '../io/exec.js';
import { pythonScript } from '../python/scripts.js';

/**
 * A helper process that swaps two directories in one atomic step (renameat2 RENAME_EXCHANGE, run
 * through `python`), so a path is never missing in between. Started ahead of need, it waits for the
 * paths: its Python start-up overlaps other work instead of being added to the swap.
 */
export interface Exchanger {
  /**
   * Returns false, having changed nothing, where the kernel, libc or file system cannot exchange;
   * throws when it could but failed. Once per helper.
   */
  exchange(a: string, b: string): Promise<boolean>;
  /** Lets an unused helper go: it exits without changing anything (resolves once it has). */
  close(): Promise<void>;
}

export function startExchanger(python: string): Exchanger {
  let child: ChildProcess | undefined;
  const result: Promise<RunResult | undefined> = run(python, ['-E', '-s', '-S', pythonScript('exchange.py'), String(process.pid)], {
    stdin: true,
    // It works on restored trees: like every such process, it gets no credential.
    env: archiveCodeEnv(process.env),
    cwd: '/',
    onSpawn: (started) => {
      child = started;
      // A helper that stopped early (no ctypes, no renameat2) no longer reads: its exit code says why.
      started.stdin?.on('error', () => undefined);
    },
  }).catch(() => undefined);
  return {
    async exchange(a, b) {
      child?.stdin?.end(`${a}\0${b}\0`);
      const done = await result;
      if (done?.code === 0) return true;
      // 3 is the script's "not supported"; anything else but 4 means it stopped before the call (no ctypes).
      if (done?.code !== 4) return false;
      throw Object.assign(new Error(`cannot exchange ${a} and ${b}: ${done.stderr.trim() || `exit ${done.code}`}`), { code: 'EXCHANGE' });
    },
    async close() {
      child?.stdin?.end();
      await result;
    },
  };
}
