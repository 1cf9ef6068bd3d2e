import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { programFor } from '../../src/python/discover.js';
import { parseVersionFile, resolvePyenvShim } from '../../src/python/pyenv.js';

describe('pyenv version files', () => {
  it.each<[string, string, string[]]>([
    ['one version', '3.11.7\n', ['3.11.7']],
    ['several, one per line, CRLF', '3.12.1\r\n3.11.7\r\n', ['3.12.1', '3.11.7']],
    ['the first word of a line', '  3.10.13   trailing words\n', ['3.10.13']],
    ['comments and blank lines skipped', '# pinned\n\n3.9.18\n', ['3.9.18']],
    ['names that could leave the versions folder skipped', '..\n../../bin\n3.8.18\n', ['3.8.18']],
    ['empty', '', []],
  ])('reads %s', (_, text, names) => {
    expect(parseVersionFile(text)).toEqual(names);
  });
});

describe('resolving a pyenv shim without running it', () => {
  let root: string;
  let shim: string;
  const work = mkdtempSync(path.join(tmpdir(), 'terrarium-pyenv-'));
  const at = (...parts: string[]) => path.join(work, ...parts);
  const executable = (file: string, text = '#!/bin/sh\n') => {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
    chmodSync(file, 0o755);
  };

  beforeAll(() => {
    root = at('pyenv');
    shim = path.join(root, 'shims', 'python3');
    // As `pyenv rehash` writes them (pyenv 2.x).
    executable(
      shim,
      `#!/usr/bin/env bash\nset -e\n[ -n "$PYENV_DEBUG" ] && set -x\n\nprogram="\${0##*/}"\n\nexport PYENV_ROOT="${root}"\nexec "${root}/libexec/pyenv" exec "$program" "$@"\n`,
    );
    executable(path.join(root, 'versions', '3.11.7', 'bin', 'python3'));
    executable(path.join(root, 'versions', '3.12.1', 'bin', 'python3'));
    mkdirSync(path.join(root, 'versions', '2.7.18', 'bin'), { recursive: true }); // no python3 there
    executable(path.join(root, 'versions', 'miniconda3', 'bin', 'python3'));
    mkdirSync(path.join(root, 'versions', 'miniconda3', 'conda-meta'));
    writeFileSync(path.join(root, 'version'), '3.11.7\n');
    mkdirSync(at('project', 'src', 'deep'), { recursive: true });
    writeFileSync(at('project', '.python-version'), '3.12.1\n');
    mkdirSync(at('elsewhere'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const bin = (version: string) => path.join(root, 'versions', version, 'bin', 'python3');

  it.each<[string, NodeJS.ProcessEnv, string, string | undefined]>([
    ['the global version file', {}, 'elsewhere', '3.11.7'],
    ['the nearest .python-version above the working directory', {}, 'project/src/deep', '3.12.1'],
    ['PYENV_DIR before the working directory', { PYENV_DIR: '../project' }, 'elsewhere', '3.12.1'],
    ['the working directory when PYENV_DIR has no version file', { PYENV_DIR: '../../../elsewhere' }, 'project/src/deep', '3.12.1'],
    ['a PYENV_DIR that does not exist: the shim decides', { PYENV_DIR: 'missing' }, 'elsewhere', undefined],
    ['PYENV_VERSION over every file', { PYENV_VERSION: '3.11.7' }, 'project', '3.11.7'],
    ['the first listed version that has the command', { PYENV_VERSION: '2.7.18:3.12.1' }, 'elsewhere', '3.12.1'],
    ['a python- prefix', { PYENV_VERSION: 'python-3.12.1' }, 'elsewhere', '3.12.1'],
    ['system: the shim decides', { PYENV_VERSION: 'system' }, 'elsewhere', undefined],
    ['a version not installed (pyenv may resolve a prefix): the shim decides', { PYENV_VERSION: '3.12' }, 'elsewhere', undefined],
    ['a conda environment: the shim decides', { PYENV_VERSION: 'miniconda3' }, 'elsewhere', undefined],
    ['no version with the command: the shim decides', { PYENV_VERSION: '2.7.18' }, 'elsewhere', undefined],
  ])('follows %s', (_, env, cwd, version) => {
    expect(resolvePyenvShim(shim, env, at(cwd))).toBe(version && bin(version));
  });

  it('asked for pythonX.Y that the chosen versions lack, takes the newest installed X.Y; a version finds it too', () => {
    const versioned = (version: string) => path.join(root, 'versions', version, 'bin', 'python3.12');
    executable(versioned('3.12.1'));
    executable(versioned('3.12.0'));
    const shim312 = path.join(root, 'shims', 'python3.12');
    executable(shim312, readFileSync(shim, 'utf8'));
    const env = { PATH: path.join(root, 'shims'), PYENV_ROOT: root, HOME: work };
    // The global version is 3.11.7, which has no python3.12: pyenv itself would fail.
    expect(programFor('python3.12', env, at('elsewhere'))).toBe(versioned('3.12.1'));
    expect(programFor('3.12', env, at('elsewhere'))).toBe(versioned('3.12.1'));
    expect(programFor('3.12.0', env, at('elsewhere'))).toBe(versioned('3.12.0'));
    expect(programFor('python3', env, at('elsewhere'))).toBe(bin('3.11.7'));
    expect(programFor('3.13', { ...env, PATH: '' }, at('elsewhere'))).toBeUndefined();
  });

  it('leaves anything but a pyenv shim alone', () => {
    expect(resolvePyenvShim(bin('3.11.7'), {}, work)).toBeUndefined();
    const script = at('wrapper');
    executable(script, `#!/bin/sh\nexport PYENV_ROOT="${root}"\nexec python3 "$@"\n`);
    expect(resolvePyenvShim(script, {}, work)).toBeUndefined();
    expect(resolvePyenvShim(at('missing'), {}, work)).toBeUndefined();
  });
});
