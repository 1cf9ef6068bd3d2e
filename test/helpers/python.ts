import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { machine } from 'node:os';
import path from 'node:path';

let cached: string | undefined;

/** The base interpreter behind `python3` on PATH (pyenv shims resolved), as terrarium picks it. */
export function python3(): string {
  cached ??= execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  return cached;
}

export function pythonVersion(python: string): string {
  return execFileSync(python, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' }).trim();
}

/** Debian's own python3.11, a second install of the same minor version at another place. */
/** What keys start with on this machine: the interpreter's platform.machine(), which is uname -m's answer. */
export const ARCH = machine();

export const SYSTEM_PYTHON = '/usr/bin/python3.11';
export const hasSystemPython = existsSync(SYSTEM_PYTHON);

/** Every CPython pyenv has here (2.7, 3.6 and newer), then Debian's python3.11: the relocation matrix. */
export function interpreters(): Array<{ name: string; python: string; version: string }> {
  let root: string;
  try {
    root = execFileSync('pyenv', ['root'], { encoding: 'utf8' }).trim();
  } catch {
    return [];
  }
  const found = readdirSync(path.join(root, 'versions'))
    .filter((v) => /^(2\.7|3\.\d+)\.\d+$/.test(v))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((v) => ({
      name: `pyenv ${v}`,
      python: path.join(root, 'versions', v, 'bin', v.startsWith('2.') ? 'python2' : 'python3'),
      version: v.split('.').slice(0, 2).join('.'),
    }))
    .filter((i) => existsSync(i.python));
  if (hasSystemPython) found.push({ name: 'Debian 3.11', python: SYSTEM_PYTHON, version: pythonVersion(SYSTEM_PYTHON) });
  return found;
}
