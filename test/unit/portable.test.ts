import { describe, expect, it } from 'vitest';
import { isCarried, whyNotPortable } from '../../src/env/bundle-plan.js';
import type { Fingerprint } from '../../src/python/fingerprint.js';
import { type BundleFacts, carriedPython, glibcFits, isBundleFacts, missingLibraries, sortLibraries } from '../../src/python/portable.js';
import type { ArchiveRecord } from '../../src/stores/store.js';
import { chooseCarried, machineMismatch } from '../../src/stores/variants.js';
import { testFingerprint } from '../helpers/manifest.js';

const pyenv: Fingerprint = {
  ...testFingerprint('/home/u/.pyenv/versions/3.11.7/bin/python3.11'),
  prefix: '/home/u/.pyenv/versions/3.11.7',
  stdlib: '/home/u/.pyenv/versions/3.11.7/lib/python3.11',
};
const facts: BundleFacts = {
  interpreter: 'cpython-3.11.7',
  libraries: ['libc.so.6', 'libssl.so.3'],
  optionalLibraries: { 'libtk8.6.so': ['_tkinter'] },
  glibc: '2.34',
  modules: ['ssl'],
};

describe('whyNotPortable', () => {
  it.each<[string, Partial<Fingerprint>, string[], RegExp | undefined]>([
    ["pyenv's", {}, ['libpython3.11.so.1.0', 'libpython3.so', 'pkgconfig', 'python3.11'], undefined],
    ['python-build-standalone with Tcl/Tk', {}, ['libpython3.11.so.1.0', 'libtcl8.6.so', 'libtk8.6.so', 'tcl8.6', 'itcl4.2.2', 'python3.11'], undefined],
    ["Debian's", { prefix: '/usr', stdlib: '/usr/lib/python3.11' }, [], /installed in \/usr, shared with other software/],
    ['one in /usr/local', { prefix: '/usr/local', stdlib: '/usr/local/lib/python3.11' }, [], /installed in \/usr\/local/],
    ['a prefix with other libraries', {}, ['libpython3.11.so', 'libfoo.so.1', 'libbar.so'], /other software's libraries \(libfoo\.so\.1, libbar\.so\)/],
    ['Python 2.7', { version: [2, 7, 18] }, [], /Python 2\.7\.18 cannot travel: terrarium carries CPython 3\.9 or newer/],
    ['Python 3.8', { version: [3, 8, 18] }, [], /3\.9 or newer/],
    ['PyPy', { implementation: 'pypy' }, [], /only CPython/],
    ['macOS', { system: 'darwin' }, [], /Linux \(ELF\)/],
    ['a stdlib outside the prefix', { stdlib: '/usr/lib/python3.11' }, [], /lies outside its prefix/],
  ])('%s', (_, change, lib, expected) => {
    const why = whyNotPortable({ ...pyenv, ...change }, lib);
    if (expected) expect(why).toMatch(expected);
    else expect(why).toBeUndefined();
  });
});

describe('isCarried', () => {
  it.each([
    ['bin/python3.11', true],
    ['bin/python3.11-config', true],
    ['bin/pip3.11', false],
    ['bin/idle3.11', false],
    ['bin/black', false],
    ['lib/libpython3.11.so.1.0', true],
    ['lib/libpython3.11.a', false],
    ['lib/python3.11/os.py', true],
    ['lib/python3.11/__pycache__/os.cpython-311.pyc', false],
    ['lib/python3.11/test/test_os.py', false],
    ['lib/python3.11/idlelib/idle.py', false],
    ['lib/python3.11/unittest/test/test_case.py', false],
    ['lib/python3.11/lib2to3/tests/data/x.py', false],
    ['lib/python3.11/site-packages', true],
    ['lib/python3.11/site-packages/pip/__init__.py', false],
    ['lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so', true],
    ['lib/python3.11/lib-dynload/_testcapi.cpython-311-x86_64-linux-gnu.so', false],
    ['lib/python3.11/config-3.11-x86_64-linux-gnu/Makefile', true],
    ['include/python3.11/Python.h', true],
  ])('%s: %s', (rel, expected) => {
    expect(isCarried(rel, 'python3.11')).toBe(expected);
  });
});

describe("a carried interpreter's libraries", () => {
  it('sorts what the interpreter and the checked modules need from what other modules need', () => {
    const needed = new Map([
      ['libc.so.6', ['bin/python3.11', 'lib/python3.11/lib-dynload/_tkinter.cpython-311-x86_64-linux-gnu.so']],
      ['libssl.so.3', ['lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so']],
      ['libffi.so.8', ['lib/python3.11/lib-dynload/_ctypes.cpython-311-x86_64-linux-gnu.so']],
      ['libtk8.6.so', ['lib/python3.11/lib-dynload/_tkinter.cpython-311-x86_64-linux-gnu.so']],
      ['libm.so.6', ['lib/libpython3.11.so.1.0']],
    ]);
    expect(sortLibraries(needed, ['ssl'])).toEqual({
      libraries: ['libc.so.6', 'libm.so.6', 'libssl.so.3'],
      optionalLibraries: { 'libffi.so.8': ['_ctypes'], 'libtk8.6.so': ['_tkinter'] },
    });
  });

  it('finds what this machine lacks, by how much it matters', () => {
    expect(missingLibraries(facts, (name) => name === 'libc.so.6')).toEqual({
      essential: ['libssl.so.3'],
      optional: [{ library: 'libtk8.6.so', modules: ['_tkinter'] }],
    });
    expect(missingLibraries(facts, () => true)).toEqual({ essential: [], optional: [] });
  });

  it.each([
    ['2.36', true],
    ['2.34', true],
    ['2.31', false],
    ['', false],
  ])('glibc %s here for one that needs 2.34: %s', (here, fits) => {
    expect(glibcFits(facts, here || undefined)).toBe(fits);
  });
});

describe('isBundleFacts (hostile input)', () => {
  it.each<[string, unknown, boolean]>([
    ['what a build writes', facts, true],
    ['no glibc', { ...facts, glibc: undefined }, true],
    ['a soname with a slash', { ...facts, libraries: ['../../libc.so.6'] }, false],
    ['an unknown module', { ...facts, modules: ['os; import evil'] }, false],
    ['a bad interpreter name', { ...facts, interpreter: 'cpython-3.11.7/../x' }, false],
    ['too many libraries', { ...facts, libraries: Array.from({ length: 501 }, (_, i) => `lib${i}.so`) }, false],
    ['a glibc that is not a version', { ...facts, glibc: '2.34; rm' }, false],
    ['optional libraries as a list', { ...facts, optionalLibraries: [] }, false],
    ['a bad module name', { ...facts, optionalLibraries: { 'libx.so': ['a b'] } }, false],
    ['nothing', null, false],
  ])('%s', (_, value, ok) => {
    expect(isBundleFacts(value)).toBe(ok);
  });
});

describe('where a portable environment runs', () => {
  it('names the carried interpreter where the environment goes', () => {
    expect(carriedPython(pyenv, '/srv/app')).toMatchObject({
      executable: '/srv/app/python/bin/python3.11',
      prefix: '/srv/app/python',
      stdlib: '/srv/app/python/lib/python3.11',
      version: [3, 11, 7],
    });
    expect(carriedPython({ ...pyenv, version: [3, 13, 0], gilDisabled: true }, '/e').executable).toBe('/e/python/bin/python3.13t');
  });

  const here = { system: 'Linux', machine: 'x86_64', libc: 'glibc', libcVersion: '2.36' };
  const archive = (libcVersion: string, portable = true, machine = 'x86_64') =>
    ({
      sha256: libcVersion,
      platform: { ...pyenv, version: [3, 11], machine, libcVersion },
      ...(portable ? { portable: facts } : {}),
    }) as unknown as ArchiveRecord;

  it.each([
    ['the newest glibc not newer than here', [archive('2.31'), archive('2.36'), archive('2.39')], '2.36'],
    ['none for another CPU', [archive('2.31', true, 'aarch64')], undefined],
    ['never one that carries no interpreter', [archive('2.31', false)], undefined],
  ])('chooses %s', (_, archives, chosen) => {
    expect(chooseCarried(archives, here)?.sha256).toBe(chosen);
  });

  it.each([
    [{ machine: 'aarch64' }, /architecture differs/],
    [{ libc: 'musl' }, /C library differs/],
    [{ libcVersion: '2.39' }, /glibc is older here/],
    [{ system: 'linux' }, undefined],
  ])('machineMismatch %o', (built, expected) => {
    const why = machineMismatch({ ...here, ...built }, here);
    if (expected) expect(why).toMatch(expected);
    else expect(why).toBeUndefined();
  });
});
