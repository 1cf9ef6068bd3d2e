import { describeCause, TerrariumError } from '../errors.js';
import { type RunResult, run } from '../io/exec.js';
import { pythonScript } from '../python/scripts.js';
import type { Reporter } from '../report/reporter.js';

/** Throws BUILD_VENV_FAILED, after the program's output, when a step of making the environment failed. */
export function check(result: RunResult, what: string, reporter: Reporter, hint: string): void {
  if (result.code === 0) return;
  reporter.failureOutput(result.stdout + result.stderr);
  throw new TerrariumError('BUILD_VENV_FAILED', `${what} failed (exit ${result.code})`, { hint: `see the output above; ${hint}` });
}

export interface StepOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  signal: AbortSignal | undefined;
  /** The interpreter that runs supervise.py. */
  python: string;
}

/**
 * Runs one step of the build under supervise.py (run by `options.python`), so that the step and all it
 * starts die with terrarium; `onLine` gets each line the program prints (pip's progress).
 */
export async function step(
  reporter: Reporter,
  program: string,
  args: string[],
  options: StepOptions,
  onLine: (line: string) => void = () => undefined,
): Promise<RunResult> {
  reporter.detail({ code: 'RUNNING', command: [program, ...args].join(' ') });
  // Output comes in chunks that need not end at a line's end: a line is passed on once it is whole.
  let partial = '';
  const onOutput = (chunk: string) => {
    reporter.debug(chunk.trimEnd());
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) onLine(line);
  };
  try {
    const { python, ...runOptions } = options;
    return await run(python, ['-E', '-s', '-S', pythonScript('supervise.py'), String(process.pid), program, ...args], { ...runOptions, onOutput });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new TerrariumError('BUILD_VENV_FAILED', `cannot run ${program}: ${describeCause(error)}`, {
      hint: 'check the interpreter given with --python',
    });
  }
}
