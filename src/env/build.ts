import path from 'node:path';
import { TerrariumError, describeCause } from '../errors.js';
import { run, type RunResult } from '../io/exec.js';
import type { Fingerprint } from '../python/fingerprint.js';
import type { Reporter } from '../report/reporter.js';

export interface BuildOptions {
  python: Fingerprint;
  /** Where the environment is created (a staging directory). */
  dir: string;
  /** Requirement files as given, installed in order with `pip install -r`. */
  requirementFiles: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  reporter: Reporter;
  signal?: AbortSignal | undefined;
}

/** `python -m venv` then `pip install -r ...`: the dependency math, done once per key. */
export async function buildEnvironment(options: BuildOptions): Promise<void> {
  const { python, dir, reporter } = options;
  if (!python.hasVenv) {
    throw new TerrariumError('PYTHON_NO_VENV', `${python.executable} (Python ${python.version.join('.')}) has no working venv module`, {
      hint: 'install it (Debian/Ubuntu: apt install python3-venv), or pass another interpreter with --python',
    });
  }
  const env: NodeJS.ProcessEnv = { ...options.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' };
  delete env.VIRTUAL_ENV;
  delete env.PYTHONHOME;

  const venv = await step(reporter, python.executable, ['-m', 'venv', dir], { env, cwd: options.cwd, signal: options.signal });
  if (venv.code !== 0) {
    reporter.failureOutput(venv.stdout + venv.stderr);
    throw new TerrariumError('BUILD_VENV_FAILED', `${python.executable} -m venv failed (exit ${venv.code})`, {
      hint: 'see the output above; on Debian/Ubuntu, apt install python3-venv',
    });
  }
  const args = ['-m', 'pip', 'install', ...options.requirementFiles.flatMap((file) => ['-r', file])];
  const pip = await step(reporter, path.join(dir, 'bin', 'python'), args, { env, cwd: options.cwd, signal: options.signal });
  if (pip.code !== 0) {
    options.signal?.throwIfAborted();
    if (reporter.verbosity < 2) reporter.failureOutput(pip.stdout + pip.stderr);
    throw new TerrariumError('BUILD_PIP_FAILED', `pip install failed (exit ${pip.code}); the existing environment was left as it was`, {
      hint: 'see pip\'s output above; fix the requirements (or the package index settings) and run again',
      exitCode: pip.code,
    });
  }
}

async function step(reporter: Reporter, program: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd: string; signal: AbortSignal | undefined }): Promise<RunResult> {
  reporter.detail(`running ${[program, ...args].join(' ')}`);
  try {
    return await run(program, args, { ...options, onOutput: (chunk) => reporter.debug(chunk.trimEnd()) });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new TerrariumError('BUILD_VENV_FAILED', `cannot run ${program}: ${describeCause(error)}`, {
      hint: 'check the interpreter given with --python',
    });
  }
}
