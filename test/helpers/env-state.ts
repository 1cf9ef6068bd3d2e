import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { expect, vi } from 'vitest';

const PROBE = 'import sys, importlib.util as u; print(sys.prefix); print(",".join(m for m in ("terra_demo", "terra_cext") if u.find_spec(m)))';

/**
 * What is at `dir`, judged by running it: 'missing', a working environment named by the top-level
 * modules it holds ('terra_demo', 'terra_cext'), or 'broken' (it exists but does not run as itself).
 */
export function envState(dir: string): string {
  if (!existsSync(dir)) return 'missing';
  try {
    const [prefix, modules] = execFileSync(path.join(dir, 'bin', 'python'), ['-c', PROBE], { encoding: 'utf8', env: { PATH: process.env.PATH } })
      .trim()
      .split('\n');
    if (realpathSync(prefix!) !== realpathSync(dir)) return 'broken';
    return modules || 'empty';
  } catch {
    return 'broken';
  }
}

/** Names beside a target that only an unfinished run leaves: staging, set-aside trees, temp files, lock, journal. */
export function leftoversIn(dir: string): string[] {
  return readdirSync(dir).filter((name) => /-[0-9a-f]{8}-\d+-[0-9a-f]{8}$/.test(name) || /\.(lock|swap\.json|lock\.break)$/.test(name));
}

/**
 * No leftovers beside a target once the backup an install displaced is gone: that one is removed by a
 * detached rm after the command returns (milliseconds for these environments). Anything still there
 * after 10 s is a real leftover.
 */
export async function expectNoLeftovers(dir: string, message?: string): Promise<void> {
  await vi.waitFor(() => expect(leftoversIn(dir), message).toEqual([]), { timeout: 10_000, interval: 50 });
}
