import type { Fingerprint } from '../python/fingerprint.js';

/**
 * What a portable environment carries of its base interpreter, and which interpreters can travel
 * (docs/portable.md): pure rules, applied by bundle.ts.
 */

/** The oldest CPython that travels: the versions whose relocation is tested (3.9 on). */
const OLDEST_PORTABLE = [3, 9] as const;

/** Prefixes that hold a whole system's software, never one interpreter's installation. */
const SHARED_PREFIXES = new Set(['/', '/usr', '/usr/local', '/opt', '/opt/local', '/opt/homebrew', '/home/linuxbrew/.linuxbrew']);

/** Shared libraries an interpreter's own `lib/` holds: libpython, and Tcl/Tk where tkinter was built against its own. */
const OWN_LIBRARY = /^lib(?:python|tcl|tk|itcl|thread)[\d.]/;

/**
 * Why this interpreter cannot travel inside an environment, or undefined when it can. `libEntries` are
 * the names in its prefix's `lib/` folder.
 */
export function whyNotPortable(python: Fingerprint, libEntries: readonly string[]): string | undefined {
  const [major = 0, minor = 0] = python.version;
  const version = python.version.join('.');
  if (python.implementation !== 'cpython') return `${python.implementation} ${version} cannot travel: only CPython is carried`;
  if (major < OLDEST_PORTABLE[0] || (major === OLDEST_PORTABLE[0] && minor < OLDEST_PORTABLE[1]))
    return `Python ${version} cannot travel: terrarium carries CPython ${OLDEST_PORTABLE.join('.')} or newer`;
  if (python.system.toLowerCase() !== 'linux') return `an interpreter for ${python.system} cannot travel: terrarium carries Linux (ELF) interpreters`;
  const prefix = python.prefix;
  if (!prefix) return 'the interpreter did not say where it is installed';
  if (SHARED_PREFIXES.has(prefix.replace(/\/+$/, '') || '/'))
    return `it is installed in ${prefix}, shared with other software (a system Python, whose standard library the distribution splits and patches)`;
  if (!python.stdlib?.startsWith(`${prefix}/`)) return `its standard library (${python.stdlib ?? 'unknown'}) lies outside its prefix ${prefix}`;
  const foreign = libEntries.filter((name) => /\.so(\.|$)/.test(name) && !OWN_LIBRARY.test(name));
  if (foreign.length) return `its prefix ${prefix} holds other software's libraries (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''})`;
  return undefined;
}

/** The stdlib folder's name under lib/: `python3.12`, or `python3.13t` for a free-threaded build. */
export const stdlibName = (python: Pick<Fingerprint, 'version' | 'gilDisabled'>): string =>
  `python${python.version[0]}.${python.version[1]}${python.gilDisabled ? 't' : ''}`;

/** Programs of the interpreter's `bin/` that travel: the interpreter itself, its -config, pydoc and 2to3. */
const CARRIED_PROGRAM = /^(?:python|pydoc|2to3)/;

/** Extension modules that exist only for the test suite. */
const TEST_MODULE = /^(?:_test|_xxtest|_ctypes_test|xxlimited|xxsubtype)/;

/**
 * Whether the prefix's entry `rel` (a POSIX path under the prefix) travels. Left out, for size: the
 * test suite and the tests of stdlib packages, IDLE, static libraries, test-only extension modules,
 * bytecode (made again for the new place), and everything the interpreter's own site-packages held
 * (the environment's layers carry the packages; the folder itself stays).
 */
export function isCarried(rel: string, stdlib: string): boolean {
  const parts = rel.split('/');
  if (parts.includes('__pycache__')) return false;
  if (parts[0] === 'bin') return parts.length === 1 || CARRIED_PROGRAM.test(parts[1]!);
  if (rel.endsWith('.a')) return false;
  const lib = `lib/${stdlib}`;
  if (!rel.startsWith(`${lib}/`)) return true;
  const inner = rel.slice(lib.length + 1).split('/');
  const [top = '', second] = inner;
  if (top === 'site-packages') return inner.length === 1;
  if (top === 'test' || top === 'idlelib') return false;
  if (second === 'test' || second === 'tests' || second === 'idle_test') return false;
  if (top === 'lib-dynload' && second !== undefined && TEST_MODULE.test(second)) return false;
  return true;
}
