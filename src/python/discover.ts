import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { describeCause, TerrariumError } from '../errors.js';
import { type RunResult, run } from '../io/exec.js';
import { type Fingerprint, unsupportedVersion } from './fingerprint.js';
import { resolvePyenvShim } from './pyenv.js';
import { pythonScript } from './scripts.js';

/** Finds a program the way a shell would: a path is taken as is, a bare name is looked up on PATH. */
export function whichProgram(spec: string, env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  if (spec.includes('/')) return path.resolve(cwd, spec);
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, spec);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** Answers from a cache of fingerprints when it can, else runs `probe` (and may remember its answer); says which. */
export type Remembered = (program: string, probe: () => Promise<Fingerprint>) => Promise<{ fingerprint: Fingerprint; remembered: boolean }>;

/**
 * Runs the interpreter once with a bundled script that prints JSON (never parses `--version` text).
 * `-E -s` keep the user's PYTHON* variables and user site out, and work on Python 2.7 too.
 */
export async function fingerprintPython(
  spec: string,
  env: NodeJS.ProcessEnv,
  cwd: string,
  remembered: Remembered = async (_, probe) => ({ fingerprint: await probe(), remembered: false }),
): Promise<{ fingerprint: Fingerprint; remembered: boolean }> {
  const found = whichProgram(spec, env, cwd);
  // A pyenv shim picks its interpreter anew each run; the one it would pick can be probed once and cached.
  const program = found && (resolvePyenvShim(found, env, cwd) ?? found);
  const notFound = () =>
    new TerrariumError('PYTHON_NOT_FOUND', `Python interpreter not found: ${spec}`, {
      hint: 'install Python 3, or pass --python PATH (or set TERRARIUM_PYTHON)',
    });
  if (!program) throw notFound();
  const answer = await remembered(program, () => probe(program, env, cwd, notFound));
  const tooOld = unsupportedVersion(answer.fingerprint.version);
  if (tooOld) throw new TerrariumError('PYTHON_TOO_OLD', `${program}: ${tooOld}`, { hint: 'pass a newer interpreter with --python (or set TERRARIUM_PYTHON)' });
  return answer;
}

async function probe(program: string, env: NodeJS.ProcessEnv, cwd: string, notFound: () => TerrariumError): Promise<Fingerprint> {
  let result: RunResult;
  try {
    result = await run(program, ['-E', '-s', pythonScript('fingerprint.py')], { env, cwd });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw notFound();
    throw new TerrariumError('PYTHON_FAILED', `cannot run ${program}: ${describeCause(error)}`, {
      hint: 'pass a working interpreter with --python',
    });
  }
  const last = result.stdout.trim().split('\n').pop() ?? '';
  if (result.code !== 0 || !last.startsWith('{')) {
    const detail = (result.stderr.trim().split('\n').pop() ?? '').slice(0, 300);
    throw new TerrariumError('PYTHON_FAILED', `${program} failed to report its version (exit ${result.code})${detail ? `: ${detail}` : ''}`, {
      hint: 'pass a working interpreter with --python',
    });
  }
  return JSON.parse(last) as Fingerprint;
}
