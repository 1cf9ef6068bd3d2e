import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TerrariumError } from '../errors.js';
import type { RunResult } from '../io/exec.js';
import { listOrEmptySync } from '../io/fs.js';
import type { Reporter } from '../report/reporter.js';
import { PipProgress } from './build-progress.js';
import { type StepOptions, step } from './build-step.js';
import type { PipPlan } from './pip-plan.js';
import { parsePipReport, type ReportedInstall } from './pip-report.js';

/**
 * pip install, one run per plan (requirement files, or a lock's artifacts then the rest); a failure is
 * pip's words and BUILD_PIP_FAILED. With `reports`, each run writes pip's report of what it installed:
 * returned, else undefined.
 */
export async function installRequirements(
  options: { dir: string; reporter: Reporter; signal?: AbortSignal | undefined },
  plan: PipPlan,
  stepOptions: StepOptions,
  { compileHere, reports, site }: { compileHere: boolean; reports: boolean; site: string },
): Promise<ReportedInstall[] | undefined> {
  const { dir, reporter } = options;
  const outcome = await withPlanFiles(plan, async ({ installs, fallback }, folder) => {
    const progress = new PipProgress(() => listOrEmptySync(site));
    const installed: ReportedInstall[] = [];
    const pip = await reporter.during(
      'pip install',
      async (phase) => {
        let count = 0;
        let result: RunResult | undefined;
        const pipInstall = async (args: string[], index: number) => {
          const report = reports ? path.join(folder, `report-${index}.json`) : undefined;
          const run = await step(
            reporter,
            path.join(dir, 'bin', 'python'),
            ['-m', 'pip', 'install', ...(compileHere ? ['--no-compile'] : []), ...(report ? ['--report', report] : []), ...args],
            stepOptions,
            (line) => progress.feed(line),
          );
          if (run.code === 0 && report) installed.push(...(parsePipReport(await fs.readFile(report, 'utf8').catch(() => '')) ?? []));
          return run;
        };
        for (const [index, args] of installs.entries()) {
          result = await pipInstall(args, index);
          // The lock's own URLs could not serve it: the same files by hash from the user's index or find-links.
          if (result.code !== 0 && index === 0 && fallback) {
            options.signal?.throwIfAborted();
            reporter.info({ code: 'LOCK_SOURCES_FALLBACK', exitCode: result.code });
            result = await pipInstall(fallback, installs.length);
          }
          if (result.code !== 0) return result;
          count += /^Successfully installed (.+)$/m.exec(result.stdout)?.[1]?.split(' ').length ?? 0;
        }
        phase.done({ code: 'PACKAGES_INSTALLED', count });
        return result;
      },
      () => progress.describe(),
    );
    return { pip, installed };
  });
  const { pip } = outcome;
  if (!pip || pip.code === 0) return reports ? outcome.installed : undefined;
  options.signal?.throwIfAborted();
  if (reporter.verbosity < 2) reporter.failureOutput(pip.stdout + pip.stderr);
  throw new TerrariumError('BUILD_PIP_FAILED', `pip install failed (exit ${pip.code}); the existing environment was left as it was`, {
    hint: "see pip's output above; fix the requirements (or the package index settings) and run again",
    exitCode: pip.code,
  });
}

/** Writes the plan's files (and pip's reports) to a folder of their own for the time pip runs, and names them there. */
async function withPlanFiles<T>(plan: PipPlan, use: (runs: Pick<PipPlan, 'installs' | 'fallback'>, folder: string) => Promise<T>): Promise<T> {
  const names = Object.keys(plan.files);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'terrarium-pip-'));
  const named = (args: string[]) => args.map((arg) => (names.includes(arg) ? path.join(dir, arg) : arg));
  try {
    for (const name of names) await fs.writeFile(path.join(dir, name), plan.files[name]!);
    return await use({ installs: plan.installs.map(named), fallback: plan.fallback && named(plan.fallback) }, dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
