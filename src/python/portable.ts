import { compareVersions, type Fingerprint } from './fingerprint.js';

/**
 * A portable environment carries its interpreter in a folder of its own (docs/portable.md). What its
 * manifest says of it, and what a machine needs to run it: pure rules, shared by the build (which
 * writes the facts) and every restore (which reads them from a hostile archive).
 */

/** The folder under the environment that holds the interpreter. */
export const BUNDLE_DIR = 'python';

export interface BundleFacts {
  /** `cpython-3.12.1`: names the interpreter's layer. */
  interpreter: string;
  /** Shared libraries (sonames) it needs from the system to start, and to import the modules of `modules`. */
  libraries: string[];
  /** Libraries only other extension modules need, each with those modules (`_tkinter`): without it, they do not import. */
  optionalLibraries: Record<string, string[]>;
  /** The newest glibc symbol version any of its files asks for. */
  glibc?: string | undefined;
  /** Optional standard modules it imports on the builder (of LIBRARY_MODULES): what the smoke check imports after a restore. */
  modules: string[];
}

/** Optional standard modules that need system libraries, with the extension module each loads. */
export const LIBRARY_MODULES = { ssl: '_ssl', sqlite3: '_sqlite3', ctypes: '_ctypes', zlib: 'zlib', lzma: '_lzma', bz2: '_bz2', readline: 'readline' } as const;

/** What a restore of this environment means by its interpreter: the carried one, where the environment is going. */
export function carriedPython(recorded: Fingerprint, at: string): Fingerprint {
  const prefix = `${at}/${BUNDLE_DIR}`;
  const name = `python${recorded.version[0]}.${recorded.version[1]}${recorded.gilDisabled ? 't' : ''}`;
  return { ...recorded, executable: `${prefix}/bin/${name}`, prefix, stdlib: `${prefix}/lib/${name}` };
}

/**
 * Sorts the libraries an interpreter's files need (each with the files, relative to its prefix): those
 * it needs to start or to import `modules` (of LIBRARY_MODULES), and those only other extension
 * modules need.
 */
export function sortLibraries(
  needed: ReadonlyMap<string, readonly string[]>,
  modules: readonly string[],
): Pick<BundleFacts, 'libraries' | 'optionalLibraries'> {
  const checked = new Set<string>(modules.map((name) => LIBRARY_MODULES[name as keyof typeof LIBRARY_MODULES]));
  const moduleOf = (file: string) => file.split('/').pop()!.split('.')[0]!;
  const essential = (file: string) => file.startsWith('bin/') || /^lib\/libpython/.test(file) || checked.has(moduleOf(file));
  const sorted: Pick<BundleFacts, 'libraries' | 'optionalLibraries'> = { libraries: [], optionalLibraries: {} };
  for (const [library, files] of [...needed].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (files.some(essential)) sorted.libraries.push(library);
    else sorted.optionalLibraries[library] = [...new Set(files.map(moduleOf))].sort();
  }
  return sorted;
}

export interface MissingLibraries {
  /** Missing here and needed to start the interpreter or to import a module the smoke check imports: the environment cannot work here. */
  essential: string[];
  /** Missing here and needed only by other extension modules, which will not import. */
  optional: Array<{ library: string; modules: string[] }>;
}

/** Which of the carried interpreter's libraries this machine lacks, by how much that matters. */
export function missingLibraries(facts: BundleFacts, present: (soname: string) => boolean): MissingLibraries {
  return {
    essential: facts.libraries.filter((library) => !present(library)),
    optional: Object.entries(facts.optionalLibraries)
      .filter(([library]) => !present(library))
      .map(([library, modules]) => ({ library, modules })),
  };
}

/** Whether this machine's C library is new enough for the carried interpreter (a musl machine never is). */
export function glibcFits(facts: BundleFacts, glibcHere: string | undefined): boolean {
  if (!facts.glibc) return true;
  return glibcHere !== undefined && compareVersions(facts.glibc, glibcHere) <= 0;
}

const SONAME = /^[A-Za-z0-9._+-]{1,200}$/;
const MODULE = /^[A-Za-z0-9_]{1,100}$/;
const LIMITS = { libraries: 500, modules: 500 };

/** Whether an archive's bundle facts (hostile input) have the shape the build writes, within bounds. */
export function isBundleFacts(value: unknown): value is BundleFacts {
  if (typeof value !== 'object' || value === null) return false;
  const facts = value as Record<string, unknown>;
  const optional = facts.optionalLibraries as Record<string, unknown> | undefined;
  if (typeof facts.interpreter !== 'string' || !/^[a-z]+-\d+\.\d+\.\d+[a-z0-9]*$/.test(facts.interpreter)) return false;
  if (facts.glibc !== undefined && (typeof facts.glibc !== 'string' || !/^\d+(\.\d+){0,3}$/.test(facts.glibc))) return false;
  if (!Array.isArray(facts.modules) || !facts.modules.every((m) => Object.hasOwn(LIBRARY_MODULES, m))) return false;
  if (!Array.isArray(facts.libraries) || facts.libraries.length > LIMITS.libraries || !facts.libraries.every((name) => SONAME.test(name))) return false;
  if (typeof optional !== 'object' || optional === null || Array.isArray(optional)) return false;
  const entries = Object.entries(optional);
  const names = (list: unknown) => Array.isArray(list) && list.length <= LIMITS.modules && list.every((m) => typeof m === 'string' && MODULE.test(m));
  return entries.length <= LIMITS.libraries && entries.every(([name, modules]) => SONAME.test(name) && names(modules));
}
