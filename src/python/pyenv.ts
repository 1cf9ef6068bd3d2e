import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { readStart } from '../io/fs.js';

/** A pyenv shim is a small bash script ending in `exec ".../libexec/pyenv" exec "$program" "$@"`. */
const SHIM_SIGNATURE = /^exec "[^"\n]*\/libexec\/pyenv" exec "\$program"/m;
const SHIM_ROOT = /^export PYENV_ROOT="([^"\n]+)"$/m;

/**
 * The version names a pyenv version file lists, as pyenv reads them: the first word of each line,
 * skipping blank lines, comments, and names that could leave the versions folder (`..`, any `/`).
 */
export function parseVersionFile(text: string): string[] {
  const names: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const word = line.trim().split(/\s+/)[0] ?? '';
    if (!word || word.startsWith('#') || word === '..' || word.includes('/')) continue;
    names.push(word);
  }
  return names;
}

/**
 * The interpreter a pyenv shim would run, found the way `pyenv exec` finds it (PYENV_VERSION, else
 * the nearest .python-version from PYENV_DIR up, then from the working directory up, else the global
 * version file), without starting pyenv: a shim is a bash script that starts pyenv, slower than the interpreter it runs, and
 * its choice can change from one run to the next, so its answer cannot be cached, while the binary's
 * can. Undefined (run the shim itself) for anything but a plainly installed version: `system`,
 * version prefixes, names not installed, a conda environment (pyenv plugins take part in those).
 */
export function resolvePyenvShim(program: string, env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  const root = pyenvRootOf(program);
  if (!root) return undefined;
  const command = path.basename(program);
  let names: string[];
  if (env.PYENV_VERSION) names = env.PYENV_VERSION.split(':').filter(Boolean);
  else {
    const from = env.PYENV_DIR ? path.resolve(cwd, env.PYENV_DIR) : cwd;
    if (!isDirectory(from)) return undefined;
    names = parseVersionFile(
      findLocalVersionFile(from) ?? (from !== cwd ? findLocalVersionFile(cwd) : undefined) ?? readIfFile(path.join(root, 'version')) ?? '',
    );
  }
  for (const name of names) {
    if (name === 'system') return undefined;
    const version = [name, name.replace(/^python-/, '')].map((candidate) => path.join(root, 'versions', candidate)).find(isDirectory);
    if (!version || isDirectory(path.join(version, 'conda-meta'))) return undefined;
    const binary = path.join(version, 'bin', command);
    try {
      accessSync(binary, constants.X_OK);
      return binary;
    } catch {
      // pyenv goes on to the next version listed
    }
  }
  return undefined;
}

/** The PYENV_ROOT a pyenv shim names, or undefined for anything but a shim. */
export function pyenvRootOf(program: string): string | undefined {
  const shim = readHead(program);
  const root = SHIM_ROOT.exec(shim)?.[1];
  return root && SHIM_SIGNATURE.test(shim) ? root : undefined;
}

/** The start of a file (a shim is a few hundred bytes; the interpreter binary behind it megabytes). */
function readHead(file: string): string {
  try {
    return readStart(file, 4096).toString('utf8');
  } catch {
    return '';
  }
}

/** The text of the nearest .python-version in `from` or a folder above it. */
function findLocalVersionFile(from: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const text = readIfFile(path.join(dir, '.python-version'));
    if (text !== undefined || dir === path.dirname(dir)) return text;
  }
}

function readIfFile(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}
