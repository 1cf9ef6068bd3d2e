import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Reporter } from '../report/reporter.js';
import { BytecodeProgress } from './build-progress.js';
import { type StepOptions, step } from './build-step.js';

const PARALLEL_FROM = 200;

/** The `.py` files under `targets` (files or folders), counted up to `limit`. */
async function countSources(targets: string[], limit: number): Promise<number> {
  let count = 0;
  const pending = [...targets];
  while (pending.length && count < limit) {
    const next = pending.pop()!;
    if (next.endsWith('.py')) count += 1;
    const entries = await fs.readdir(next, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (entry.isDirectory()) pending.push(path.join(next, entry.name));
      else if (entry.name.endsWith('.py')) count += 1;
    }
  }
  return count;
}

/**
 * Compiles `targets` (what pip installed: the site-packages entries it added or replaced, or all of
 * lib/ where the layout is not CPython's), spread over every core. compileall names each module as it
 * compiles it (unbuffered, so that its workers' lines come as they go): the live line counts them,
 * of the sources counted meanwhile.
 */
export async function compileBytecode(reporter: Reporter, dir: string, targets: string[], options: StepOptions, extra: string[] = []): Promise<void> {
  if (!targets.length) return;
  // A pool of processes is slow to start: worth it from a couple of hundred modules on.
  const workers = (await countSources(targets, PARALLEL_FROM)) < PARALLEL_FROM ? '1' : '0';
  const progress = new BytecodeProgress();
  await reporter.during(
    'bytecode',
    async (phase) => {
      const counting = countSources(targets, Number.POSITIVE_INFINITY).then((total) => progress.counted(total));
      const args = ['-m', 'compileall', '-j', workers, ...extra, ...targets];
      const result = await step(reporter, path.join(dir, 'bin', 'python'), args, { ...options, env: { ...options.env, PYTHONUNBUFFERED: '1' } }, (line) =>
        progress.feed(line),
      );
      await counting;
      // Exit 1 names files that do not compile (templates, Python 2 sources), which pip passes over too.
      if (result.code === 0 || result.code === 1) phase.done({ code: 'BYTECODE_COMPILED', perCore: workers === '0' });
      else reporter.warn({ code: 'BYTECODE_FAILED', exitCode: result.code });
    },
    () => progress.describe(),
  );
}
