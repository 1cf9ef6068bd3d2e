import path from 'node:path';
import { satisfies, validRange } from '@renovatebot/pep440';
import { parse } from 'smol-toml';
import { describeCause, TerrariumError } from '../errors.js';
import { checkedHashes, type LockedPackage, lockError, PIP_HASHES } from './locked.js';
import { evaluateMarker, type MarkerContext, normaliseName } from './markers.js';

/** PEP 751's file names: `pylock.toml` and `pylock.NAME.toml`; any other `.toml` input is read as one too. */
export function isPylockFile(file: string): boolean {
  return file.endsWith('.toml');
}

type Table = Record<string, unknown>;

/**
 * The packages of a PEP 751 lock that this interpreter installs: those whose markers hold, with the
 * lock's default dependency groups and no extras. Only wheels and sdists are supported (pip installs
 * them with --require-hashes); a package from a VCS, a directory or an archive URL is refused by name.
 */
export function readPylock(text: string, lockPath: string, file: string, markers: Pick<MarkerContext, 'environment'>): LockedPackage[] {
  const bad = (why: string) =>
    lockError(
      'REQUIREMENTS_BAD_LOCK',
      `${file} is not a valid pylock.toml: ${why}`,
      'regenerate it (uv export --format pylock.toml, pip lock, pex3 lock export --format pep-751)',
    );
  let lock: Table;
  try {
    lock = parse(text) as Table;
  } catch (error) {
    throw bad(`${describeCause(error).split('\n')[0]}`);
  }
  const version = lock['lock-version'];
  if (typeof version !== 'string') throw bad('it has no lock-version');
  if (version.split('.')[0] !== '1') {
    throw lockError(
      'REQUIREMENTS_LOCK_UNSUPPORTED',
      `${file} has lock-version ${version.slice(0, 20)}; terrarium reads version 1 locks`,
      'regenerate it with a tool that writes lock-version 1.0',
    );
  }
  const groups = stringList(lock['default-groups'], 'default-groups', bad);
  const context: MarkerContext = { ...markers, extras: new Set(), dependencyGroups: new Set(groups.map(normaliseName)) };
  const python = context.environment.python_full_version;
  const requiresPython = lock['requires-python'];
  if (typeof requiresPython === 'string' && validRange(requiresPython) && !satisfies(python, requiresPython, { prereleases: true })) {
    throw mismatch(file, `requires Python ${requiresPython}, and this interpreter is ${python}`);
  }
  const environments = stringList(lock.environments, 'environments', bad);
  if (environments.length && !environments.some((marker) => evaluateMarker(marker, context, `${file}: environments`))) {
    throw mismatch(file, `is for the environments ${environments.map((e) => `"${e}"`).join(', ')}, and this interpreter (Python ${python}) is none of them`);
  }
  if (!Array.isArray(lock.packages)) throw bad('it has no [[packages]]');
  const chosen = new Map<string, LockedPackage>();
  for (const entry of lock.packages as unknown[]) {
    if (!isTable(entry) || typeof entry.name !== 'string') throw bad('a [[packages]] entry has no name');
    const name = normaliseName(entry.name);
    const where = `${file}: ${entry.name}`;
    if (typeof entry.marker === 'string' && !evaluateMarker(entry.marker, context, where)) continue;
    for (const source of ['vcs', 'directory', 'archive'] as const) {
      if (entry[source] !== undefined) {
        throw lockError(
          'REQUIREMENTS_LOCK_UNSUPPORTED',
          `${where} comes from ${source === 'vcs' ? 'a VCS checkout' : source === 'directory' ? 'a local directory' : 'an archive URL'}; terrarium installs locked wheels and sdists only`,
          'lock it from an index (or a wheel), or install it from a plain requirements file',
        );
      }
    }
    if (typeof entry.version !== 'string') throw bad(`${entry.name} has no version`);
    const artifacts = [...(Array.isArray(entry.wheels) ? entry.wheels : []), ...(entry.sdist === undefined ? [] : [entry.sdist])] as unknown[];
    if (!artifacts.length) throw bad(`${entry.name} lists neither wheels nor an sdist`);
    const hashes: string[] = [];
    const locations: string[] = [];
    for (const artifact of artifacts) {
      if (!isTable(artifact)) throw bad(`${entry.name} has an artifact that is not a table`);
      hashes.push(artifactHash(artifact, where));
      locations.push(location(artifact, lockPath, bad, entry.name));
    }
    const seen = chosen.get(name);
    if (seen) throw bad(`it lists ${entry.name} twice for this interpreter (${seen.version} and ${entry.version}); their markers overlap`);
    chosen.set(name, { name, version: entry.version, hashes: checkedHashes(hashes, where), locations: [...new Set(locations)].sort(), file });
  }
  return [...chosen.values()];
}

function artifactHash(artifact: Table, where: string): string {
  const hashes = isTable(artifact.hashes) ? artifact.hashes : {};
  const algorithm = Object.keys(PIP_HASHES).find((name) => typeof hashes[name] === 'string');
  if (!algorithm) {
    throw lockError(
      'REQUIREMENTS_LOCK_UNSUPPORTED',
      `${where} has an artifact without a sha256 hash`,
      'regenerate the lock so that every artifact has its sha256',
    );
  }
  return `${algorithm}:${hashes[algorithm] as string}`;
}

/** pip reads each artifact as a find-links entry: an absolute path (a lock's paths are relative to it) or a URL. */
function location(artifact: Table, lockPath: string, bad: (why: string) => TerrariumError, name: string): string {
  if (typeof artifact.path === 'string') return path.resolve(path.dirname(lockPath), artifact.path);
  if (typeof artifact.url === 'string' && /^(https?|file):\/\//i.test(artifact.url)) return artifact.url;
  throw bad(`an artifact of ${name} has neither a path nor an http(s) url`);
}

function mismatch(file: string, why: string): TerrariumError {
  return new TerrariumError('REQUIREMENTS_LOCK_MISMATCH', `${file} ${why}`, {
    hint: 'pass an interpreter the lock was made for with --python, or regenerate the lock for this one',
  });
}

function stringList(value: unknown, field: string, bad: (why: string) => TerrariumError): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw bad(`${field} is not a list of strings`);
  return value;
}

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
