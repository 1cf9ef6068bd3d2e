import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { describeCause, TerrariumError } from '../errors.js';
import { type RunResult, run } from '../io/exec.js';
import { listOrEmptySync } from '../io/fs.js';
import { type Fingerprint, unsupportedVersion } from './fingerprint.js';
import { pyenvRootOf, resolvePyenvShim } from './pyenv.js';
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
    const program = newestInstalled(root, pattern, name);
    if (program) return program;
  }
  const onPath = whichProgram(name, env, cwd);
  return onPath && (resolvePyenvShim(onPath, env, cwd) ?? shimFallback(onPath) ?? onPath);
}

/** `bin/NAME` of the newest installation under `root` whose folder's name matches `pattern`. */
function newestInstalled(root: string, pattern: RegExp, name: string): string | undefined {
  return listOrEmptySync(root)
    .filter((entry) => pattern.test(entry))
    .sort((a, b) => b.localeCompare(a, 'en', { numeric: true }))
    .map((version) => path.join(root, version, 'bin', name))
    .find(isExecutable);
}

/**
 * A pyenv shim `pythonX.Y` whose versions chosen for this directory lack it (pyenv would fail, listing
 * the versions that have it): the newest installed X.Y, which is what asking for `pythonX.Y` means.
 */
function shimFallback(shim: string): string | undefined {
  const root = pyenvRootOf(shim);
  const version = /^python(\d+\.\d+)$/.exec(path.basename(shim))?.[1];
  if (!root || !version) return undefined;
  return newestInstalled(path.join(root, 'versions'), new RegExp(`^${version.replaceAll('.', '\\.')}\\.\\d+$`), `python${version}`);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The program `--python` names: a version's interpreter (programForVersion), a path, or a name on PATH;
 * a pyenv shim resolved to the interpreter it would run (its choice can be probed once and cached), or
 * to the newest installed `pythonX.Y` where the versions it would choose lack that command.
 */
export function programFor(spec: string, env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  if (isVersionSpec(spec)) return programForVersion(spec, env, cwd);
  const found = whichProgram(spec, env, cwd);
  return found && (resolvePyenvShim(found, env, cwd) ?? shimFallback(found) ?? found);
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
  const program = programFor(spec, env, cwd);
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
    // A pyenv shim that cannot run its command explains why over several lines: its first line is
    // the error, the others its advice (which versions have the command, how to select them).
    const pyenv = /^pyenv: ([^\n]+)\n([\s\S]*)$/.exec(result.stderr.trim());
    if (pyenv) {
      throw new TerrariumError('PYTHON_FAILED', `${program}: ${pyenv[1]!.slice(0, 300)}`, {
        hint: `pyenv says: ${pyenv[2]!.replace(/\s+/g, ' ').trim().slice(0, 500) || 'nothing more'}; or pass an interpreter's path with --python`,
      });
    }
    const detail = (result.stderr.trim().split('\n').pop() ?? '').slice(0, 300);
    throw new TerrariumError('PYTHON_FAILED', `${program} failed to report its version (exit ${result.code})${detail ? `: ${detail}` : ''}`, {
      hint: 'pass a working interpreter with --python',
    });
  }
  return JSON.parse(last) as Fingerprint;
}
