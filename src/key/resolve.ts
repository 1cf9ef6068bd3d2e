import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { cachedFingerprint } from '../cache/fingerprints.js';
import { TerrariumError } from '../errors.js';
import { readBoundedSync } from '../io/fs.js';
import { fingerprintPython, isVersionSpec } from '../python/discover.js';
import type { Fingerprint } from '../python/fingerprint.js';
import { requirementsDigest } from './digest.js';
import { hasLocks, type Inputs, type ResolvedInputs, readInputs, resolveInputs, unresolvedInputs } from './inputs.js';
import { formatKey } from './key-format.js';
import type { MarkerEnvironment } from './markers.js';
import { MAX_REQUIREMENTS_FILE, type RequirementSet } from './requirements.js';

/** The settings that shape a key (part of every run's settings). */
export interface KeySettings {
  digestType: string;
  keyFormat: string;
  python: string;
  /** Where interpreter fingerprints are remembered between runs (undefined: always ask the interpreter). */
  interpreterCache?: string | undefined;
  /** The environment carries its interpreter (docs/portable.md): a key of its own, computed without the interpreter where it is missing. */
  portable?: boolean | undefined;
}

export interface KeyOptions extends KeySettings {
  requirementFiles: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export interface ResolvedKey {
  requirements: RequirementSet;
  inputs: ResolvedInputs;
  digest: string;
  /** Undefined only for a portable key on a machine without the interpreter: it can restore, not build. */
  python: Fingerprint | undefined;
  /** The interpreter's facts came from the cache: confirm them (`confirmKey`) before they name a build or blame a store. */
  remembered: boolean;
  portable: boolean;
  key: string;
}

export interface ResolvedDigest {
  requirements: RequirementSet;
  inputs: ResolvedInputs;
  digest: string;
  /** Asked only when an input is a lock, whose markers name the interpreter. */
  python: Fingerprint | undefined;
  remembered: boolean;
}

/** The digest of the requirement and lock files; the interpreter is asked only when a lock needs its markers. */
export function resolveDigest(options: Omit<KeyOptions, 'keyFormat'>): Promise<ResolvedDigest> {
  return digestFor(options, false, false);
}

/** Requirements, digest, interpreter and key: everything that names an environment. */
export async function resolveKey(options: KeyOptions, fresh = false): Promise<ResolvedKey> {
  const { python, ...digest } = await digestFor(options, true, fresh);
  const [major, minor, patch] = python ? python.version.map(String) : versionOfSpec(options);
  const arch = python?.machine ?? os.machine();
  if (patch === undefined && /%\(python_vpatch\)/.test(options.keyFormat)) {
    throw new TerrariumError('PYTHON_NOT_FOUND', `Python ${options.python} is not installed here, and the key format names its patch version`, {
      hint: `pass the full version the environment was built with (--python ${major}.${minor}.N)`,
    });
  }
  const key = formatKey(options.keyFormat, { arch, python_vmajor: major!, python_vminor: minor!, python_vpatch: patch ?? '', digest: digest.digest });
  return { ...digest, python, portable: Boolean(options.portable), key };
}

/** The version a portable key names when the interpreter is not here: the one --python gives. */
function versionOfSpec(options: Pick<KeyOptions, 'python'>): [string, string, string | undefined] {
  const match = /^(?:c?python)?(\d+)\.(\d+)(?:\.(\d+))?$/.exec(options.python);
  if (!match) {
    throw new TerrariumError('PYTHON_NOT_FOUND', `Python interpreter not found: ${options.python}`, {
      hint: 'a portable environment restores without Python when --python names its version (--python 3.12)',
    });
  }
  return [match[1]!, match[2]!, match[3]];
}

/**
 * The key again, with the interpreter asked rather than the cache: undefined when the remembered facts
 * were true (or were not remembered), else the key they should have named. One Python start (30-100
 * ms), paid before a build or before a store's archive is blamed for failing the smoke check.
 */
export async function confirmKey(options: KeyOptions, resolved: ResolvedKey): Promise<ResolvedKey | undefined> {
  if (!resolved.remembered) return undefined;
  const fresh = await resolveKey(options, true);
  return fresh.key === resolved.key && sameFacts(fresh.python!, resolved.python!) ? undefined : fresh;
}

const sameFacts = (a: Fingerprint, b: Fingerprint): boolean => JSON.stringify(factsOf(a)) === JSON.stringify(factsOf(b));

/** Every field of a fingerprint in one order (a remembered one's keys may come in any). */
function factsOf(fp: Fingerprint): unknown[] {
  const { implementation, version, abiflags, soabi, gilDisabled, machine, system, libc, libcVersion, executable, prefix, stdlib, hasVenv, markers } = fp;
  const markerValues = markers && Object.entries(markers).sort(([a], [b]) => (a < b ? -1 : 1));
  return [implementation, version, abiflags, soabi, gilDisabled, machine, system, libc, libcVersion, executable, prefix, stdlib, hasVenv, markerValues];
}

/** Files first, so that a missing requirements file is said before a missing interpreter. */
async function digestFor(options: Omit<KeyOptions, 'keyFormat'>, withPython: boolean, fresh: boolean): Promise<ResolvedDigest> {
  const inputs: Inputs = readInputs(options.requirementFiles, options.cwd, (file) => readBoundedSync(file, MAX_REQUIREMENTS_FILE).toString('utf8'));
  const portable = Boolean(options.portable);
  const wanted = withPython || (hasLocks(inputs) && !portable);
  const answer = wanted ? await (portable ? portableInterpreterOf(options, fresh) : interpreterOf(options, fresh)) : undefined;
  const python = answer?.fingerprint;
  let resolved: ResolvedInputs;
  let keyLines: string[];
  if (!portable) {
    resolved = resolveInputs(inputs, python && { environment: markerEnvironment(python) }, existsSync);
    keyLines = resolved.lines;
  } else {
    // A portable key is the same with or without the interpreter here: its locks count as written, and
    // the build resolves their markers for the interpreter it carries.
    const written = unresolvedInputs(inputs, sha256);
    resolved =
      python && hasLocks(inputs) ? { ...resolveInputs(inputs, { environment: markerEnvironment(python) }, existsSync), lines: written.lines } : written;
    keyLines = [...written.lines, PORTABLE_LINE];
  }
  return {
    requirements: inputs.requirements,
    inputs: resolved,
    digest: requirementsDigest(keyLines, options.digestType),
    python,
    remembered: answer?.remembered ?? false,
  };
}

/** What a portable key's digest covers beside the requirement lines: no requirements file holds it, so it never names another key. */
export const PORTABLE_LINE = '--portable';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A portable run's interpreter: undefined where a version was asked for and none is installed. */
async function portableInterpreterOf(options: Pick<KeyOptions, 'python' | 'env' | 'cwd' | 'interpreterCache'>, fresh: boolean) {
  try {
    return await interpreterOf(options, fresh);
  } catch (error) {
    if (!(error instanceof TerrariumError) || error.code !== 'PYTHON_NOT_FOUND') throw error;
    if (isVersionSpec(options.python.replace(/^c?python/, ''))) return undefined;
    throw new TerrariumError('PYTHON_NOT_FOUND', `${error.message}, and --python does not name a version`, {
      hint: `a portable environment restores where no Python is installed when --python names its version (--python 3.12)`,
    });
  }
}

function interpreterOf(options: Pick<KeyOptions, 'python' | 'env' | 'cwd' | 'interpreterCache'>, fresh: boolean) {
  const cacheFile = options.interpreterCache;
  return fingerprintPython(
    options.python,
    options.env,
    options.cwd,
    cacheFile === undefined ? undefined : (program, probe) => cachedFingerprint(program, cacheFile, probe, fresh),
  );
}

/** The interpreter's marker values, with the kernel's release and version as they are now (uname, as Python reads them). */
function markerEnvironment(python: Fingerprint): MarkerEnvironment {
  if (!python.markers) throw new Error(`no marker values for ${python.executable}`);
  return { ...python.markers, platform_release: os.release(), platform_version: os.version() };
}
