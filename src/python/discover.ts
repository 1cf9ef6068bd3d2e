import { accessSync, constants, readdirSync } from 'node:fs';
import path from 'node:path';
import { describeCause, TerrariumError } from '../errors.js';
import { type RunResult, run } from '../io/exec.js';
import { type Fingerprint, unsupportedVersion } from './fingerprint.js';
import { resolvePyenvShim } from './pyenv.js';
import { pythonScript } from './scripts.js';

/** Finds a program the way a shell would: a path is taken as is, a bare name is looked up on PATH. */
export function whichProgram(spec: string, env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  if (spec.includes('/')) return path.resolve(cwd, spec);
  return (env.PATH ?? '')
    .split(path.delimiter)
    .filter(Boolean)
    .map((dir) => path.join(dir, spec))
    .find(isExecutable);
}

/** `3.12` or `3.12.1`: a version, which --python takes in place of a program. */
export const isVersionSpec = (spec: string): boolean => /^\d+\.\d+(?:\.\d+)?$/.test(spec);

/**
 * The interpreter of a version: installed by pyenv (the newest matching release), else by uv, else
 * `pythonX.Y` on PATH. Interpreters that live in a prefix of their own come first: they are the ones
 * that can travel with a portable environment.
 */
export function programForVersion(spec: string, env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  const [major, minor] = spec.split('.');
  const name = `python${major}.${minor}`;
  const home = env.HOME ?? '';
  const roots: Array<[string, RegExp]> = [
    [path.join(env.PYENV_ROOT || path.join(home, '.pyenv'), 'versions'), new RegExp(`^${spec.replaceAll('.', '\\.')}(?:\\.\\d+)?$`)],
    [
      env.UV_PYTHON_INSTALL_DIR || path.join(env.XDG_DATA_HOME || path.join(home, '.local', 'share'), 'uv', 'python'),
      new RegExp(`^cpython-${spec.replaceAll('.', '\\.')}(?:\\.\\d+)?-linux-`),
    ],
  ];
  for (const [root, pattern] of roots) {
    const versions = listDir(root)
      .filter((entry) => pattern.test(entry))
      .sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
    for (const version of versions) {
      const program = path.join(root, version, 'bin', name);
      if (isExecutable(program)) return program;
    }
  }
  const onPath = whichProgram(name, env, cwd);
  return onPath && (resolvePyenvShim(onPath, env, cwd) ?? onPath);
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
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
  const found = isVersionSpec(spec) ? programForVersion(spec, env, cwd) : whichProgram(spec, env, cwd);
  // A pyenv shim picks its interpreter anew each run; the one it would pick can be probed once and cached.
  const program = found && (isVersionSpec(spec) ? found : (resolvePyenvShim(found, env, cwd) ?? found));
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
