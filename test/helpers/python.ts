import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

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
export const SYSTEM_PYTHON = '/usr/bin/python3.11';
export const hasSystemPython = existsSync(SYSTEM_PYTHON);
