import { pythonScript } from '../python/scripts.js';
import { run } from './exec.js';

/**
 * Swaps two directories in one atomic step (renameat2 RENAME_EXCHANGE, run through `python`), so a
 * path is never missing in between. Returns false, having changed nothing, where the kernel, libc or
 * file system cannot do it; throws when it could but failed.
 */
export async function exchangePaths(python: string, a: string, b: string): Promise<boolean> {
  let result;
  try {
    result = await run(python, ['-E', '-s', '-S', pythonScript('exchange.py'), String(process.pid), a, b]);
  } catch {
    return false;
  }
  if (result.code === 0) return true;
  // 3 is the script's "not supported"; anything else but 4 means it stopped before the call (no ctypes).
  if (result.code !== 4) return false;
  throw Object.assign(new Error(`cannot exchange ${a} and ${b}: ${result.stderr.trim() || `exit ${result.code}`}`), { code: 'EXCHANGE' });
}
