import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.js';
import { ARCH, hasSystemPython, python3, pythonVersion, SYSTEM_PYTHON } from '../helpers/python.js';

/**
 * One archive, restored by another installation of the same Python minor version (Debian's 3.11 for
 * pyenv's 3.11), at a path longer than the 127-byte shebang limit.
 */
describe.skipIf(!hasSystemPython || pythonVersion(python3()) !== pythonVersion(SYSTEM_PYTHON))('restore with another interpreter', () => {
  const box = new Sandbox();
  const longTarget = box.path('a-rather-long-directory-name-to-pass-the-kernel-shebang-limit', 'and-then-some-more-of-it', 'env-with-a-long-name');

  beforeAll(async () => {
    box.write('requirements.txt', 'terra-demo\nterra-cext\n');
    const built = await box.terrarium(['-t', box.path('built'), '--storage-dir', box.store, 'install', 'requirements.txt']);
    expect(built.code).toBe(0);
    renameSync(box.path('built'), box.path('moved'));
  });
  afterAll(() => box.cleanup());

  it('restores, points pyvenv.cfg at the local interpreter, and everything runs', async () => {
    expect(path.join(longTarget, 'bin', 'python').length).toBeGreaterThan(127);
    const result = await box.terrarium([
      '--python',
      SYSTEM_PYTHON,
      '-t',
      longTarget,
      '--storage-dir',
      box.store,
      '--require-download',
      'install',
      'requirements.txt',
    ]);
    expect(result.code).toBe(0);
    expect(readFileSync(path.join(longTarget, 'pyvenv.cfg'), 'utf8')).toMatch(/^home = \/usr\/bin$/m);
    const probe = await box.exec(path.join(longTarget, 'bin', 'python'), [
      '-c',
      'import sys, ssl, sqlite3, terra_cext; print(sys.base_prefix, terra_cext.add(1, 2))',
    ]);
    expect(probe.stdout).toBe('/usr 3\n');
    const script = await box.exec(path.join(longTarget, 'bin', 'terra-demo'), []);
    expect(script.stdout).toBe(`hello, terrarium\n${longTarget}\n`);
    expect(existsSync(path.join(longTarget, 'bin', 'python'))).toBe(true);
  });

  it("resolves a virtual environment's python to its base interpreter", async () => {
    const result = await box.terrarium([
      '-V',
      '--python',
      box.path('moved', 'bin', 'python'),
      '-t',
      box.path('via-venv'),
      '--storage-dir',
      box.store,
      'install',
      'requirements.txt',
    ]);
    expect(result.code).toBe(0);
    // -V names the interpreter the key was made with.
    const interpreter = /^terrarium: interpreter: (\/\S+)$/m.exec(result.stderr)?.[1];
    expect(interpreter, result.stderr).toBeDefined();
    expect(interpreter).not.toContain(box.path('moved'));
    expect(readFileSync(box.path('via-venv', 'pyvenv.cfg'), 'utf8')).not.toContain(box.path('moved'));
  });

  it('takes an archive for an interpreter of another version as a miss: it builds its own beside it (or, with --require-download, fails before touching the target)', async () => {
    const other = otherMinorPython();
    expect(other, 'another CPython minor version under pyenv').toBeDefined();
    // A key without the version: both interpreters' archives live under one key, one per platform.
    const format = ['--remote-key-format', 'any-%(digest)s', '--storage-dir', box.store];
    // Pure Python only: the test's compiled wheel exists for the default interpreter alone.
    box.write('pure.txt', 'terra-dep\n');
    expect((await box.terrarium([...format, '-t', box.path('seed'), 'install', 'pure.txt'])).code).toBe(0);
    const refused = await box.terrarium(['--python', other!, ...format, '-t', box.path('mismatch'), '--require-download', 'install', 'pure.txt']);
    expect(refused.code).toBe(10);
    expect(refused.stderr).toMatch(new RegExp(`holds any-\\S+ for cpython 3\\.\\d+ glibc [\\d.]+ linux\\/${ARCH} only, which cannot run here`));
    expect(existsSync(box.path('mismatch'))).toBe(false);
    const built = await box.terrarium(['--python', other!, ...format, '-t', box.path('mismatch'), 'install', 'pure.txt']);
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).toMatch(/built any-\S+, published to /);
    // Each interpreter now finds its own archive under the key.
    for (const python of [[], ['--python', other!]]) {
      const hit = await box.terrarium([
        ...python,
        ...format,
        '-t',
        box.path(`again-${python.length}`),
        '--no-cache',
        '--require-download',
        'install',
        'pure.txt',
      ]);
      expect(hit.code, hit.stderr).toBe(0);
    }
    // ls and inspect show the key's two archives, one per platform.
    const ls = await box.main(['--storage-dir', box.store, '--no-cache', 'ls']);
    const key = /built (any-\S+),/.exec(built.stderr)![1]!;
    expect(ls.stdout.split('\n').filter((line) => line.startsWith(`  ${key}`))).toEqual([
      expect.stringMatching(new RegExp(` cpython 3\\.\\d+ glibc [\\d.]+ linux\\/${ARCH} {2}\\d+ layers$`)),
      expect.stringMatching(new RegExp(` cpython 3\\.\\d+ glibc [\\d.]+ linux\\/${ARCH} {2}\\d+ layers$`)),
    ]);
    const inspect = await box.main(['--storage-dir', box.store, '--no-cache', 'inspect', key]);
    expect(inspect.stdout).toContain('variants      (2, one per platform)');
    expect(inspect.stdout).toMatch(new RegExp(`\\n {2}cpython 3\\.\\d+ glibc [\\d.]+ linux\\/${ARCH}, [\\d.]+ (KiB|MiB) \\(this one\\)\\n`));
  });
});

function otherMinorPython(): string | undefined {
  const root = execFileSync('pyenv', ['root'], { encoding: 'utf8' }).trim();
  const mine = pythonVersion(python3());
  return readdirSync(path.join(root, 'versions'))
    .filter((v) => /^3\.\d+\.\d+$/.test(v) && !v.startsWith(`${mine}.`))
    .map((v) => path.join(root, 'versions', v, 'bin', 'python3'))
    .find((p) => existsSync(p));
}
