import { TerrariumError } from '../errors.js';
import type { Fingerprint } from '../python/fingerprint.js';
import { normalizeEntryPath } from '../archive/entry-check.js';

export const MANIFEST_PATH = '.terrarium/manifest.json';
export const MANIFEST_FORMAT = 1;

/**
 * Written at pack time, first entry of every archive: which files name the build prefix and which
 * symlinks point at the interpreter, so that a restore rewrites exactly those and nothing else.
 */
export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  tool: string;
  created: string;
  key: string;
  /** Absolute path the environment was built at (and that the listed files name). */
  prefix: string;
  /** In an installed environment's copy: where it was first built (prefix is then where it is now). */
  origin?: string;
  python: Fingerprint;
  /** Normalised requirement lines the environment was built from. */
  requirements: string[];
  /** Text files holding the prefix: rewritten on restore (scripts get a fitting header). */
  text: string[];
  /** Binary files holding the prefix (besides .pyc, which CPython corrects on import): rewritten where the new prefix fits. */
  binary: string[];
  /** Symlinks to the base interpreter: re-pointed at the local interpreter on restore. */
  interpreterLinks: string[];
  /** Symlinks to absolute paths outside the environment, recreated as they were. */
  externalLinks: Array<{ path: string; target: string }>;
}

/** Archives come from shared storage: check the manifest's shape and paths before trusting any of it. */
export function parseManifest(json: string): Manifest {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    throw invalid('it is not valid JSON');
  }
  const m = data as Partial<Manifest>;
  if (typeof m !== 'object' || m === null) throw invalid('it is not an object');
  if (m.format !== MANIFEST_FORMAT) {
    throw new TerrariumError('ARCHIVE_UNSUPPORTED', `archive manifest has format ${String(m.format)}, this terrarium reads format ${MANIFEST_FORMAT}`, {
      hint: 'upgrade terrarium, or rebuild the archive with --no-download',
    });
  }
  if (typeof m.prefix !== 'string' || !m.prefix.startsWith('/') || m.prefix.length < 2) throw invalid('prefix is missing');
  if (typeof m.python !== 'object' || m.python === null || !Array.isArray(m.python.version)) throw invalid('interpreter is missing');
  for (const list of ['text', 'binary', 'interpreterLinks'] as const) {
    if (!Array.isArray(m[list]) || !m[list]!.every((p) => typeof p === 'string')) throw invalid(`${list} is not a list of paths`);
    m[list] = m[list]!.map((p) => normalizeEntryPath(p));
  }
  if (!Array.isArray(m.externalLinks)) throw invalid('externalLinks is not a list');
  m.externalLinks = m.externalLinks.map((link) => {
    if (typeof link?.target !== 'string' || !link.target.startsWith('/')) throw invalid('an external link has no absolute target');
    return { path: normalizeEntryPath(link.path), target: link.target };
  });
  if (!Array.isArray(m.requirements)) m.requirements = [];
  return m as Manifest;
}

function invalid(why: string): TerrariumError {
  return new TerrariumError('ARCHIVE_CORRUPT', `archive manifest is invalid: ${why}`, {
    hint: 'the archive was not made by terrarium or is damaged; rebuild it with --no-download',
  });
}
