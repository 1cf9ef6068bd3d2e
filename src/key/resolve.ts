import { readBoundedSync } from '../io/fs.js';
import { cachedFingerprint } from '../cache/fingerprints.js';
import { fingerprintPython } from '../python/discover.js';
import type { Fingerprint } from '../python/fingerprint.js';
import { requirementsDigest } from './digest.js';
import { formatKey } from './key-format.js';
import { MAX_REQUIREMENTS_FILE, parseRequirementFiles, type RequirementSet } from './requirements.js';

/** The settings that shape a key (part of every run's settings). */
export interface KeySettings {
  digestType: string;
  keyFormat: string;
  python: string;
  /** Where interpreter fingerprints are remembered between runs (undefined: always ask the interpreter). */
  interpreterCache?: string | undefined;
}

export interface KeyOptions extends KeySettings {
  requirementFiles: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export interface ResolvedKey {
  requirements: RequirementSet;
  digest: string;
  python: Fingerprint;
  key: string;
}

export function digestOf(options: Pick<KeyOptions, 'requirementFiles' | 'digestType' | 'cwd'>): { requirements: RequirementSet; digest: string } {
  const requirements = parseRequirementFiles(options.requirementFiles, options.cwd, (file) => readBoundedSync(file, MAX_REQUIREMENTS_FILE).toString('utf8'));
  return { requirements, digest: requirementsDigest(requirements.lines, options.digestType) };
}

/** Requirements, digest, interpreter and key: everything that names an environment. */
export async function resolveKey(options: KeyOptions): Promise<ResolvedKey> {
  const { requirements, digest } = digestOf(options);
  const cacheFile = options.interpreterCache;
  const python = await fingerprintPython(
    options.python,
    options.env,
    options.cwd,
    cacheFile === undefined ? undefined : (program, probe) => cachedFingerprint(program, cacheFile, probe),
  );
  const [major, minor, patch] = python.version.map(String) as [string, string, string];
  const key = formatKey(options.keyFormat, { arch: python.machine, python_vmajor: major, python_vminor: minor, python_vpatch: patch, digest });
  return { requirements, digest, python, key };
}
