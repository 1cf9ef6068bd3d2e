import path from 'node:path';
import { TerrariumError } from '../errors.js';
import { evaluateMarker, type MarkerContext, normaliseName } from './markers.js';

/** One package of a lock, as this interpreter installs it: an exact version and the hashes of its artifacts. */
export interface LockedPackage {
  /** PEP 503 normal form. */
  name: string;
  version: string;
  /** `sha256:HEX` (or sha384/sha512 where a lock has no sha256), one per artifact, sorted. */
  hashes: string[];
  /** Where pip finds the artifacts (a pylock.toml's URLs and absolute paths); empty: pip's index. */
  locations: string[];
  /** The lock file it comes from, for messages. */
  file: string;
}

/** What the lock inputs of a run resolve to for one interpreter. */
export interface LockedSet {
  packages: LockedPackage[];
  /** pip options from hashed requirement files (index, find-links...), in reading order. */
  options: string[];
}

/** The hashes pip accepts with --require-hashes, strongest last; a lock's sha256 is preferred when it has several. */
export const PIP_HASHES = { sha256: 64, sha384: 96, sha512: 128 } as const;

/** The one line a locked package contributes to the key and to pip's input: `name==version --hash=...`. */
export function lockedLine(pkg: Pick<LockedPackage, 'name' | 'version' | 'hashes'>): string {
  return [`${pkg.name}==${pkg.version}`, ...pkg.hashes.map((hash) => `--hash=${hash}`)].join(' ');
}

/** pip options that only say where artifacts come from: the hashes pin the bytes, so these stay out of the key. */
const SOURCE_OPTION = /^(-i|--index-url|--extra-index-url|-f|--find-links|--no-index|--trusted-host)(?=[\s=]|$)/;

/** The lines a locked set contributes to the key: each package's line and the options that change what pip picks. */
export function lockedKeyLines(set: LockedSet): string[] {
  return [...set.packages.map(lockedLine), ...set.options.filter((option) => !SOURCE_OPTION.test(option))];
}

export function lockError(code: 'REQUIREMENTS_BAD_LOCK' | 'REQUIREMENTS_LOCK_UNSUPPORTED', message: string, hint: string): TerrariumError {
  return new TerrariumError(code, message, { hint });
}

const HASH_OPTION = /^--hash(?:=|$)/;
const PINNED = /^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;,*]+)\s*(?:;\s*(.*))?$/;
const REQUIREMENT_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?/;

/** Whether a logical requirements line carries a `--hash` (pip-compile --generate-hashes output). */
export function isHashedLine(line: string): boolean {
  return line.split(/\s+/).some((token) => HASH_OPTION.test(token));
}

/** Whether a logical line is a requirement rather than a pip option (`-e` is a requirement). */
export function isRequirementLine(line: string): boolean {
  return !line.startsWith('-') || /^(-e|--editable)(?=[\s=]|$)/.test(line);
}

/**
 * The package a requirement line of a hashed requirements file pins, or undefined when its marker
 * excludes this interpreter. pip's own split: the requirement ends where the first `-` option starts.
 */
export function hashedRequirement(line: string, file: string, context: MarkerContext): LockedPackage | undefined {
  const where = `${file}: ${line.split(/\s+/)[0]}`;
  if (/^(-e|--editable)(?=[\s=]|$)/.test(line)) {
    throw lockError(
      'REQUIREMENTS_LOCK_UNSUPPORTED',
      `${where} is editable, which a hashed requirements file cannot pin`,
      'install editable packages from a plain requirements file',
    );
  }
  const tokens = line.split(/\s+/);
  const first = tokens.findIndex((token) => token.startsWith('-'));
  const requirement = tokens.slice(0, first < 0 ? tokens.length : first).join(' ');
  const options = first < 0 ? [] : tokens.slice(first);
  const hashes: string[] = [];
  for (let i = 0; i < options.length; i++) {
    const option = options[i]!;
    if (option === '--hash') hashes.push(options[++i] ?? '');
    else if (option.startsWith('--hash=')) hashes.push(option.slice('--hash='.length));
    else {
      throw lockError(
        'REQUIREMENTS_LOCK_UNSUPPORTED',
        `${where} has the option ${option}, which terrarium does not pass on for locked packages`,
        'remove it; a locked package is installed from its pinned artifact as it is',
      );
    }
  }
  const name = REQUIREMENT_NAME.exec(requirement)?.[0] ?? requirement;
  if (/^\S+\s*@/.test(requirement) || requirement.includes('://')) {
    throw lockError(
      'REQUIREMENTS_LOCK_UNSUPPORTED',
      `${file}: ${name} is a direct URL requirement, which terrarium does not lock`,
      'pin it by version from an index or find-links, with its hashes',
    );
  }
  const pinned = PINNED.exec(requirement);
  if (!pinned) {
    throw lockError(
      'REQUIREMENTS_BAD_LOCK',
      `${file}: ${name} is not pinned with ==, but the file has --hash lines`,
      'pin every requirement of a hashed file with == (pip-compile --generate-hashes does)',
    );
  }
  if (!hashes.length) {
    throw lockError(
      'REQUIREMENTS_BAD_LOCK',
      `${file}: ${name} has no --hash, but other requirements of the file do`,
      'add its hashes (pip-compile --generate-hashes), or move it to a plain requirements file',
    );
  }
  const marker = pinned[3];
  if (marker && !evaluateMarker(marker, context, `${file}: ${name}`)) return undefined;
  return { name: normaliseName(pinned[1]!), version: pinned[2]!, hashes: checkedHashes(hashes, `${file}: ${name}`), locations: [], file };
}

/** `ALG:HEX` hashes that pip can check, lower-cased, unique and sorted. */
export function checkedHashes(hashes: readonly string[], where: string): string[] {
  const checked = new Set<string>();
  for (const hash of hashes) {
    const [algorithm = '', hex = ''] = hash.toLowerCase().split(':');
    const length = PIP_HASHES[algorithm as keyof typeof PIP_HASHES];
    if (!length || !new RegExp(`^[0-9a-f]{${length}}$`).test(hex)) {
      throw lockError(
        'REQUIREMENTS_BAD_LOCK',
        `${where} has the hash "${hash.slice(0, 80)}", which pip cannot check`,
        `use sha256 (or sha384, sha512) hashes: ${Object.keys(PIP_HASHES).join(':HEX, ')}:HEX`,
      );
    }
    checked.add(`${algorithm}:${hex}`);
  }
  return [...checked].sort();
}

/** A find-links value of a hashed file as pip reads it: a relative path is taken from the file's folder when it exists there. */
export function absoluteFindLinks(option: string, file: string, exists: (p: string) => boolean): string {
  const match = /^(-f|--find-links)(?:\s*=\s*|\s+)(\S+)$/.exec(option);
  if (!match || /^[a-z][a-z0-9+.-]*:/i.test(match[2]!) || path.isAbsolute(match[2]!)) return option;
  const beside = path.join(path.dirname(file), match[2]!);
  return exists(beside) ? `--find-links ${beside}` : option;
}
