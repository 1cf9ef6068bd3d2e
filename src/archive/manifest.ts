import path from 'node:path';
import { TerrariumError } from '../errors.js';
import { readBoundedSync } from '../io/fs.js';
import type { Fingerprint } from '../python/fingerprint.js';
import { type BundleFacts, carriedPython, isBundleFacts } from '../python/portable.js';
import { isInterpreterLinkName, type Relocations, TERRARIUM_DIR } from '../relocate/relocations.js';
import { normalizeEntryPath } from './entry-check.js';

export const MANIFEST_PATH = `${TERRARIUM_DIR}/manifest.json`;
export const MANIFEST_FORMAT = 1;
/** A portable environment's manifest: readers of format 1 alone (terrarium 0.1 and 0.2) refuse it rather than install it without its interpreter. */
export const MANIFEST_FORMAT_PORTABLE = 2;

/**
 * Written at pack time, first entry of every archive: which files name the build prefix and which
 * symlinks point at the interpreter, so that a restore rewrites exactly those and nothing else.
 */
export interface Manifest extends Relocations {
  format: typeof MANIFEST_FORMAT | typeof MANIFEST_FORMAT_PORTABLE;
  tool: string;
  created: string;
  key: string;
  /** Absolute path the environment was built at (and that the listed files name). */
  prefix: string;
  /** In an installed environment's copy: where it was first built (prefix is then where it is now). */
  origin?: string;
  /**
   * Format 2: where it was built, which its binary files still name; its text files name `prefix`, a
   * placeholder (PLACEHOLDER_PREFIX), so that a distribution's layer is the same from any build path.
   */
  buildPath?: string;
  /** The interpreter it was built with; in a portable environment the one it carries, named under `prefix`. */
  python: Fingerprint;
  /** A portable environment (format 2): what its interpreter, carried in `python/`, needs of a machine. */
  portable?: BundleFacts;
  /** Normalised requirement lines the environment was built from. */
  requirements: string[];
}

/** The manifest as it describes the environment at its new place. */
export function relocatedManifest(manifest: Manifest, target: string): Manifest {
  const { buildPath, ...rest } = manifest;
  const python = manifest.portable ? carriedPython(manifest.python, target) : manifest.python;
  return { ...rest, prefix: target, python, origin: manifest.origin ?? buildPath ?? manifest.prefix };
}

/** What a layered archive's text files name in place of the build path: rewritten to the target on restore as the build path is otherwise. */
export const PLACEHOLDER_PREFIX = '/.terrarium-prefix';

/** Larger manifests are refused unread: one lists a few hundred paths (about 40 KiB for 18,000 files). */
export const MAX_MANIFEST_BYTES = 4 << 20;

/**
 * The manifest of the environment at `root` (its own `.terrarium/manifest.json`, read within
 * MAX_MANIFEST_BYTES and never through a link), or undefined where it has none that parses.
 */
export function readEnvironmentManifest(root: string): Manifest | undefined {
  try {
    return parseManifest(readBoundedSync(path.join(root, MANIFEST_PATH), MAX_MANIFEST_BYTES, { noFollow: true }).toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Archives come from shared storage: check the manifest's shape and paths before trusting any of it. */
export function parseManifest(json: string): Manifest {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    throw invalid('it is not valid JSON');
  }
  return checkManifest(data);
}

/**
 * The one check every manifest passes, from an archive or from an unpacked copy's index in the cache:
 * shape, and paths that stay inside the environment and out of terrarium's own folder.
 */
export function checkManifest(data: unknown): Manifest {
  const m = data as Partial<Manifest>;
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw invalid('it is not an object');
  if (m.format !== MANIFEST_FORMAT && m.format !== MANIFEST_FORMAT_PORTABLE) {
    throw new TerrariumError(
      'ARCHIVE_UNSUPPORTED',
      `archive manifest has format ${String(m.format)}, this terrarium reads formats ${MANIFEST_FORMAT} and ${MANIFEST_FORMAT_PORTABLE}`,
      {
        hint: 'upgrade terrarium, or rebuild the archive with --no-download',
      },
    );
  }
  if ((m.format === MANIFEST_FORMAT_PORTABLE) !== (m.portable !== undefined) || (m.portable !== undefined && !isBundleFacts(m.portable)))
    throw invalid('what it says of a carried interpreter does not hold together');
  if (!isAbsolutePath(m.prefix) || m.prefix.length < 2) throw invalid('prefix is missing');
  if (m.origin !== undefined && !isAbsolutePath(m.origin)) throw invalid('origin is not an absolute path');
  if (m.buildPath !== undefined && (!isAbsolutePath(m.buildPath) || m.buildPath.length < 2)) throw invalid('buildPath is not an absolute path');
  if (typeof m.key !== 'string') throw invalid('key is missing');
  checkFingerprint(m.python);
  for (const list of ['text', 'binary', 'interpreterLinks'] as const) {
    if (!Array.isArray(m[list]) || !m[list]!.every((p) => typeof p === 'string')) throw invalid(`${list} is not a list of paths`);
    m[list] = m[list]!.map((p) => environmentPath(p, list));
  }
  for (const link of m.interpreterLinks!) {
    if (!isInterpreterLinkName(link)) throw hostileManifest(`interpreterLinks names ${JSON.stringify(link)}, which is not an interpreter's name in bin/`);
  }
  if (!Array.isArray(m.externalLinks)) throw invalid('externalLinks is not a list');
  m.externalLinks = m.externalLinks.map((link: unknown) => {
    const { path, target } = (link ?? {}) as { path?: unknown; target?: unknown };
    if (!isAbsolutePath(target)) throw invalid('an external link has no absolute target');
    return { path: environmentPath(path, 'externalLinks'), target };
  });
  if (!Array.isArray(m.requirements) || !m.requirements.every((line) => typeof line === 'string')) m.requirements = [];
  return m as Manifest;
}

function isAbsolutePath(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith('/') && !value.includes('\0');
}

/** A path inside the environment, never in terrarium's own folder (which restores write). */
function environmentPath(value: unknown, field: string): string {
  let normal: string;
  try {
    normal = normalizeEntryPath(value);
  } catch {
    throw hostileManifest(`${field} names ${JSON.stringify(value)}, which is not a path inside the environment`);
  }
  if (normal === TERRARIUM_DIR || normal.startsWith(`${TERRARIUM_DIR}/`))
    throw hostileManifest(`${field} names ${JSON.stringify(value)}, inside terrarium's own folder`);
  return normal;
}

function checkFingerprint(python: unknown): void {
  const p = python as Partial<Fingerprint> | undefined;
  const version = p?.version;
  if (typeof p !== 'object' || p === null || !Array.isArray(version) || version.length !== 3 || !version.every((n) => Number.isSafeInteger(n)))
    throw invalid('interpreter is missing');
  for (const field of ['implementation', 'machine', 'system', 'libc', 'executable'] as const) {
    if (typeof p[field] !== 'string') throw invalid(`interpreter ${field} is missing`);
  }
}

function invalid(why: string): TerrariumError {
  return new TerrariumError('ARCHIVE_CORRUPT', `archive manifest is invalid: ${why}`, {
    hint: 'the archive was not made by terrarium or is damaged; rebuild it with --no-download',
  });
}

function hostileManifest(why: string): TerrariumError {
  return new TerrariumError('ARCHIVE_HOSTILE', `archive manifest rejected: ${why}`, {
    hint: 'the archive was not made by terrarium or was tampered with; delete it from storage and rebuild with --no-download',
  });
}
