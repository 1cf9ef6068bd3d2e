import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/errors.js';
import { run } from '../../src/io/exec.js';
import type { ArchiveRecord } from '../../src/stores/store.js';
import { BIN, Sandbox } from '../helpers/cli.js';
import { NoPython } from '../helpers/no-python.js';
import { hasSystemPython, interpreters, python3, pythonVersion, SYSTEM_PYTHON } from '../helpers/python.js';

const noPython = NoPython.create();
afterAll(() => noPython?.cleanup());
const shell = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;

/** --portable on real interpreters: built where pyenv's Python is, restored and used where no Python is. */
describe.skipIf(!noPython)('portable environments', () => {
  const box = new Sandbox();
  const version = pythonVersion(python3());
  const both = { name: 'both.txt', text: 'terra-demo\nterra-cext\n' };
  const demo = { name: 'demo.txt', text: 'terra-demo\n' };
  const keys = { both: '', demo: '' };
  const record = (key: string) => JSON.parse(readFileSync(path.join(box.store, `${key}.json`), 'utf8')) as ArchiveRecord;
  const interpreterLayer = (r: ArchiveRecord) => r.layers!.find((layer) => layer.name.startsWith('interpreter-'))!;
  const builtAt = box.path('builder', 'env');
  const prefix = path.dirname(path.dirname(python3()));
  /** terrarium as the runner without Python starts it, then the script's own lines. */
  const runner = (args: string[], then = '', env: NodeJS.ProcessEnv = {}) =>
    noPython!.run(
      `${[process.execPath, BIN, '--portable', '--python', version, '--storage-dir', box.store, ...args].map(shell).join(' ')}\n${then}`,
      { ...box.env, ...env },
      box.dir,
    );
  /** The interpreter layer's blob after the first build: its inode, which a second upload of it would change. */
  /** The builder's options: pyenv's interpreter by path, the sandbox's store, no cache. */
  const builder = ['--portable', '--python', python3(), '--storage-dir', box.store, '--no-cache'];
  let firstBlob: { name: string; ino: number } | undefined;
  const signer = box.path('builder.key');

  beforeAll(async () => {
    for (const file of [both, demo]) box.write(file.name, file.text);
    expect((await box.main(['keygen', signer])).code).toBe(0);
    const first = await box.terrarium([...builder, '--sign-key', signer, '-t', builtAt, 'install', both.name]);
    expect(first.code, first.stderr).toBe(0);
    keys.both = (await box.main(['--portable', '--python', python3(), 'key', both.name])).stdout.trim();
    const name = interpreterLayer(record(keys.both)).sha256;
    firstBlob = { name, ino: statSync(path.join(box.store, 'blobs', 'sha256', name)).ino };
    const second = await box.terrarium([...builder, '-t', box.path('b2'), 'install', demo.name]);
    expect(second.code, second.stderr).toBe(0);
    keys.demo = (await box.main(['--portable', '--python', python3(), 'key', demo.name])).stdout.trim();
  });
  afterAll(() => box.cleanup());

  it('restores and runs where no Python is installed: imports, pip, venv, scripts, activate, a C extension compiled there', async () => {
    const target = box.path('runner', 'env');
    const cpkg = box.path('cpkg');
    mkdirSync(cpkg);
    writeFileSync(
      path.join(cpkg, 'setup.py'),
      "from setuptools import setup, Extension\nsetup(name='cfast', version='1.0', ext_modules=[Extension('cfast', ['cfast.c'])])\n",
    );
    writeFileSync(
      path.join(cpkg, 'cfast.c'),
      '#include <Python.h>\nstatic PyObject *two(PyObject *s, PyObject *a) { return PyLong_FromLong(2); }\n' +
        'static PyMethodDef m[] = {{"two", two, METH_NOARGS, ""}, {0}};\n' +
        'static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, "cfast", 0, -1, m};\nPyMODINIT_FUNC PyInit_cfast(void) { return PyModule_Create(&d); }\n',
    );
    const t = shell(target);
    // Signed: the signature covers the interpreter's layer as it covers every layer.
    const result = await runner(
      ['--cache-dir', box.path('runner-cache'), '--trust-key', `${signer}.pub`, '-t', target, 'install', both.name],
      [
        `${t}/bin/python -c 'import ssl, sqlite3, ctypes, zlib, lzma, bz2, terra_demo, terra_cext, sys; print("prefix", sys.prefix, sys.base_prefix, sys.executable)'`,
        `${t}/bin/python -c 'import sysconfig; print("paths", sorted(set(sysconfig.get_paths().values())))'`,
        `${t}/bin/pip --version`,
        `${t}/bin/terra-demo`,
        // Compiled here, against the carried interpreter's headers and build settings (the venv's
        // setuptools has no bdist_wheel to let pip do it offline).
        `cd ${shell(cpkg)} && ${t}/bin/python setup.py -q build_ext --inplace && ${t}/bin/python -c 'import cfast; print("cfast", cfast.two())' && cd - >/dev/null`,
        `${t}/bin/pip install -q --force-reinstall --no-deps terra-dep && echo reinstalled`,
        `${t}/bin/python -m venv ${shell(box.path('runner', 'inner'))} && ${shell(box.path('runner', 'inner'))}/bin/python -c 'import sys; print("inner", sys.base_prefix)'`,
        `bash -c 'source ${t}/bin/activate && python -c "import sys; print(\\"activated\\", sys.prefix)"'`,
        // Nothing the environment runs names where it was built or the builder's interpreter.
        `if grep -rIl -e ${shell(builtAt)} -e ${shell(prefix)} -e .staging- --exclude-dir=.terrarium ${t}; then echo 'builder path found'; exit 1; fi`,
        `echo done`,
      ].join('\n'),
    );
    expect(result.code, result.stderr + result.stdout).toBe(0);
    expect(result.stderr).toMatch(/not installed here, carried/);
    expect(result.stderr).toMatch(/verified and signed by [0-9A-F]{1,16}/);
    expect(result.stdout).toContain(`prefix ${target} ${target}/python ${target}/bin/python`);
    const paths = /^paths (.*)$/m.exec(result.stdout)![1]!;
    for (const p of paths.matchAll(/'([^']+)'/g)) expect(p[1] === target || p[1]!.startsWith(`${target}/`), p[1]).toBe(true);
    expect(result.stdout).toMatch(new RegExp(`pip [\\d.]+ from ${target}/lib/`));
    expect(result.stdout).toContain(`hello, terrarium\n${target}\n`);
    expect(result.stdout).toContain('cfast 2');
    expect(result.stdout).toContain('reinstalled');
    expect(result.stdout).toContain(`inner ${target}/python`);
    expect(result.stdout).toContain(`activated ${target}`);
    expect(result.stdout).toMatch(/done\n$/);
  });

  it('an interpreter built to move ($ORIGIN search paths, as python-build-standalone ships them) travels too: a carried one builds anew', async () => {
    const carrier = box.path('carrier', 'env');
    const rebuilt = box.path('rebuilt', 'env');
    const other = box.write('other.txt', 'terra-dep\n');
    const result = await runner(
      ['--no-cache', '-t', carrier, 'install', demo.name],
      [
        `readelf -d ${shell(carrier)}/python/bin/python${version} | grep -o 'runpath: \\[[^]]*\\]'`,
        [
          process.execPath,
          BIN,
          '--portable',
          '--python',
          `${carrier}/python/bin/python${version}`,
          '--storage-dir',
          box.path('rebuilt-store'),
          '--no-cache',
          '-t',
          rebuilt,
          'install',
          other,
        ]
          .map(shell)
          .join(' '),
        `${shell(rebuilt)}/bin/python -c 'import sys, ssl, terra_dep; print("rebuilt", sys.base_prefix)'`,
      ].join('\n'),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('runpath: [$ORIGIN/../lib]');
    expect(result.stdout).toContain(`rebuilt ${rebuilt}/python`);
  });

  it('stores the interpreter once: the second key shares its layer, and its publication uploads none of it', () => {
    const a = interpreterLayer(record(keys.both));
    const b = interpreterLayer(record(keys.demo));
    expect(a.name).toMatch(/^interpreter-cpython-3\.\d+\.\d+$/);
    expect(b.sha256).toBe(a.sha256);
    expect(readdirSync(path.join(box.store, 'blobs', 'sha256')).filter((name) => name === a.sha256)).toHaveLength(1);
    // A storage directory writes a blob it holds only when its bytes are not what its name says.
    expect(statSync(path.join(box.store, 'blobs', 'sha256', a.sha256)).ino).toBe(firstBlob!.ino);
    expect(record(keys.both).portable?.modules).toEqual(expect.arrayContaining(['ssl', 'sqlite3', 'ctypes']));
  });

  it('links the interpreter tree from the cache on a repeat install', async () => {
    const cache = box.path('link-cache');
    const first = box.path('linked', 'one');
    const second = box.path('linked', 'two');
    const result = await runner(
      ['--cache-dir', cache, '-t', first, 'install', demo.name],
      `${[process.execPath, BIN, '--portable', '--python', version, '--storage-dir', box.store, '--cache-dir', cache, '-t', second, 'install', demo.name].map(shell).join(' ')}
stat -c %h ${shell(second)}/python/bin/python${version}
${shell(second)}/bin/python -c 'import ssl; print("ok")'`,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/from the cache/);
    const links = Number(result.stdout.trim().split('\n').at(-2));
    expect(links).toBeGreaterThan(1);
    expect(result.stdout).toMatch(/ok\n$/);
  });

  it('a machine without a library the interpreter needs gets a miss, or under --require-download an error naming it', async () => {
    const library = execFileSync('ldconfig', ['-p'], { encoding: 'utf8' })
      .split('\n')
      .map((line) => /^\s+libsqlite3\.so\.0 \(.*x86-64.*\) => (\S+)$/.exec(line)?.[1])
      .find(Boolean);
    if (!library) return;
    const target = box.path('nolib', 'env');
    const hide = `mount --bind /dev/null ${shell(execFileSync('readlink', ['-f', library], { encoding: 'utf8' }).trim())}\n`;
    const required = await noPython!.run(
      `${hide}${[process.execPath, BIN, '--portable', '--python', version, '--storage-dir', box.store, '--no-cache', '--require-download', '-t', target, 'install', demo.name].map(shell).join(' ')}`,
      box.env,
      box.dir,
    );
    expect(required.code, required.stderr).toBe(EXIT.python);
    expect(required.stderr).toMatch(/needs libsqlite3\.so\.0, not found on this machine/);
    const miss = await noPython!.run(
      `${hide}${[process.execPath, BIN, '--portable', '--python', version, '--storage-dir', box.store, '--no-cache', '-t', target, 'install', demo.name].map(shell).join(' ')}`,
      box.env,
      box.dir,
    );
    expect(miss.code, miss.stderr).toBe(EXIT.python);
    expect(miss.stderr).toMatch(/not installed here to build it/);
    expect(readdirSync(box.store).filter((name) => name.endsWith('.json'))).toHaveLength(2);
  });

  it('a record that says portable over an environment that carries no interpreter is refused, never half-installed', async () => {
    // A non-portable archive, its record given a portable record's facts and stored under a portable key.
    const plain = await box.seed('dep', box.path('forge-store'));
    const forged = box.write('forged.txt', 'terra-dep\n# forged\n');
    const key = (await box.main(['--portable', '--python', python3(), 'key', forged])).stdout.trim();
    const lie = {
      ...record(keys.demo),
      ...JSON.parse(readFileSync(box.path('forge-store', `${plain}.json`), 'utf8')),
      key,
      portable: record(keys.demo).portable,
    };
    writeFileSync(box.path('forge-store', `${key}.json`), JSON.stringify(lie));
    const target = box.path('forged-env');
    const result = await noPython!.run(
      [
        process.execPath,
        BIN,
        '--portable',
        '--python',
        version,
        '--storage-dir',
        box.path('forge-store'),
        '--no-cache',
        '--require-download',
        '-t',
        target,
        'install',
        forged,
      ]
        .map(shell)
        .join(' '),
      box.env,
      box.dir,
    );
    expect(result.code, result.stderr).toBe(EXIT.archive);
    expect(result.stderr).toMatch(/not what its record says: its record says it carries its interpreter, its manifest the opposite/);
    expect(readdirSync(box.dir)).not.toContain('forged-env');
  });

  it('a lock counts as written: its markers are evaluated by the build, and a runner without Python finds the same key', async () => {
    const sha256 = (prefix: string) => {
      const name = readdirSync(box.wheels).find((n) => n.startsWith(prefix))!;
      return createHash('sha256')
        .update(readFileSync(path.join(box.wheels, name)))
        .digest('hex');
    };
    box.write(
      'portable.lock.txt',
      [`terra-dep==1.0 --hash=sha256:${sha256('terra_dep-')}`, `terra-demo==1.0 ; python_version < "3" --hash=sha256:${sha256('terra_demo-')}`].join('\n'),
    );
    const built = await box.terrarium([...builder, '-t', box.path('locked-built'), 'install', 'portable.lock.txt']);
    expect(built.code, built.stderr).toBe(0);
    const target = box.path('locked-runner');
    const result = await runner(
      ['--no-cache', '--require-download', '-t', target, 'install', 'portable.lock.txt'],
      `${shell(target)}/bin/python -c 'import terra_dep; print("dep")'\n${shell(target)}/bin/python -c 'import terra_demo' 2>/dev/null || echo 'no demo'`,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('dep\nno demo\n');
  });

  it.skipIf(!hasSystemPython)("refuses an interpreter that cannot travel, naming why: Debian's own", async () => {
    const result = await box.main(['--portable', '--python', SYSTEM_PYTHON, '--no-cache', '-t', box.path('debian'), 'install', demo.name]);
    expect(result.code).toBe(EXIT.python);
    expect(result.stderr).toMatch(/cannot travel with the environment: it is installed in \/usr, shared with other software/);
    expect(result.stderr).toMatch(/hint: .*pyenv/);
  });

  it('says so in --json and inspect, and doctor finds nothing outside the environment', async () => {
    const target = box.path('json-env');
    const installed = await box.main([...builder, '--json', '-t', target, 'install', demo.name]);
    expect(installed.code, installed.stderr).toBe(0);
    expect(JSON.parse(installed.stdout)).toMatchObject({ hit: true, portable: true, interpreter: expect.stringMatching(/^cpython-3\.\d+\.\d+$/) });
    const inspected = JSON.parse((await box.main(['--storage-dir', box.store, '--json', 'inspect', keys.demo])).stdout);
    expect(inspected).toMatchObject({ portable: true, carried: { interpreter: expect.stringMatching(/^cpython-/), modules: expect.arrayContaining(['ssl']) } });
    const listed = await box.main(['--storage-dir', box.store, 'ls']);
    expect(listed.stdout).toMatch(new RegExp(`${keys.demo} .* carries cpython-3\\.`));
    const diff = await box.main(['--storage-dir', box.store, 'diff', keys.demo, keys.both]);
    expect(diff.stderr).toMatch(new RegExp(`${keys.demo} \\(built .* ago, in .*, carrying cpython-3\\.\\d+\\.\\d+\\) -> ${keys.both}`));
    expect(diff.stdout).toMatch(/\+ terra-cext/);
    const doctor = await box.main(['-t', target, 'doctor']);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
  });

  it('is asked for by TERRARIUM_PORTABLE and by portable = true in terrarium.toml', async () => {
    expect((await box.main(['--python', python3(), 'key', demo.name], { TERRARIUM_PORTABLE: '1' })).stdout.trim()).toBe(keys.demo);
    const project = box.path('project');
    mkdirSync(project);
    writeFileSync(path.join(project, 'terrarium.toml'), 'portable = true\n');
    writeFileSync(path.join(project, demo.name), demo.text);
    const result = await run(process.execPath, [BIN, '--python', python3(), 'key', demo.name], { cwd: project, env: box.env });
    expect(result.stdout.trim(), result.stderr).toBe(keys.demo);
  });

  it('a non-portable key is another key, and a portable one is computed (and found stored) without the interpreter', async () => {
    const plain = (await box.main(['--python', python3(), 'key', demo.name])).stdout.trim();
    expect(plain).not.toBe(keys.demo);
    const without = await noPython!.run(
      `${[process.execPath, BIN, '--portable', '--python', version, 'key', demo.name].map(shell).join(' ')}`,
      box.env,
      box.dir,
    );
    expect(without.code, without.stderr).toBe(0);
    expect(without.stdout.trim()).toBe(keys.demo);
    const exists = await noPython!.run(
      [process.execPath, BIN, '--portable', '--python', version, '--storage-dir', box.store, '--json', 'exists', demo.name].map(shell).join(' '),
      box.env,
      box.dir,
    );
    expect(exists.code, exists.stderr).toBe(0);
    expect(JSON.parse(exists.stdout)).toMatchObject({ key: keys.demo, stored: true });
    const unnamed = await noPython!.run([process.execPath, BIN, '--portable', 'key', demo.name].map(shell).join(' '), box.env, box.dir);
    expect(unnamed.code).toBe(EXIT.python);
    expect(unnamed.stderr).toMatch(/Python interpreter not found: python3, and --python does not name a version\nterrarium: hint: .*--python 3\.12/);
  });
});

/** Every other CPython of this machine that travels (pyenv 3.9 on): built, then restored and started where no Python is. */
describe.skipIf(!noPython)('portable environments across interpreters', () => {
  const box = new Sandbox();
  const main = pythonVersion(python3());
  const others = interpreters().filter((i) => i.name.startsWith('pyenv') && Number(i.version.split('.')[1]) >= 9 && i.version !== main);
  afterAll(() => box.cleanup());

  it.each(others.map((i) => [i.version, i.python]))('Python %s', async (version, python) => {
    box.write('empty.txt', '');
    const target = box.path(`env-${version}`);
    const built = await box.terrarium([
      '--portable',
      '--python',
      python,
      '--storage-dir',
      box.store,
      '--no-cache',
      '-t',
      box.path(`built-${version}`),
      'install',
      'empty.txt',
    ]);
    expect(built.code, built.stderr).toBe(0);
    const script = `${[process.execPath, BIN, '--portable', '--python', version, '--storage-dir', box.store, '--no-cache', '-t', target, 'install', 'empty.txt'].map(shell).join(' ')}
${shell(target)}/bin/python -c 'import ssl, sqlite3, ctypes, zlib, lzma, bz2, sys, os; print(os.path.normpath(sys.base_prefix), "%d.%d" % sys.version_info[:2])'
${shell(target)}/bin/pip --version >/dev/null`;
    const restored = await noPython!.run(script, box.env, box.dir);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain(`${target}/python ${version}`);
  });
});
