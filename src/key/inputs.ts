import path from 'node:path';
import {
  absoluteFindLinks,
  hashedRequirement,
  isHashedLine,
  isRequirementLine,
  type LockedPackage,
  type LockedSet,
  lockError,
  lockedKeyLines,
} from './locked.js';
import type { MarkerContext } from './markers.js';
import { isPylockFile, readPylock } from './pylock.js';
import { parseRequirementFiles, type ReadText, type RequirementSet, readInput, rel } from './requirements.js';

/** The files a run was given, sorted by how pip installs them. */
export interface Inputs {
  /** Every requirements file read (plain and hashed) with its includes. */
  requirements: RequirementSet;
  /** Roots of `requirements` that pip reads as they are, in the order given. */
  plainRoots: number[];
  /** Roots of `requirements` whose requirements carry --hash: locks, resolved here for the interpreter. */
  hashedRoots: number[];
  /** PEP 751 locks, in the order given. */
  pylocks: Array<{ path: string; name: string; text: string }>;
  cwd: string;
}

/** What the inputs resolve to for one interpreter: the lines the key covers and the locked packages. */
export interface ResolvedInputs {
  /** Sorted into the digest; for plain files alone exactly the original terrarium's lines. */
  lines: string[];
  /** Undefined when no input is a lock. */
  locked: LockedSet | undefined;
  /** Absolute paths of the plain requirement files, for `pip install -r`. */
  plainFiles: string[];
  /** The pip options those files give (index, find-links made absolute...), for a pip run that installs pinned parts of them. */
  plainOptions: string[];
}

/** Reads the given files (pylock.toml by name, requirement files with their includes) without judging them. */
export function readInputs(givenPaths: string[], cwd: string, read: ReadText): Inputs {
  const requirementPaths = givenPaths.filter((given) => !isPylockFile(given));
  const requirements = parseRequirementFiles(requirementPaths, cwd, read);
  const hashedRoots = requirements.roots.filter((root) => treeLines(requirements, [root]).some((entry) => isHashedLine(entry.line)));
  const pylocks = givenPaths.filter(isPylockFile).map((given) => {
    const absolute = path.resolve(cwd, given);
    return { path: absolute, name: rel(cwd, absolute), text: readInput(read, absolute, cwd) };
  });
  return { requirements, plainRoots: requirements.roots.filter((root) => !hashedRoots.includes(root)), hashedRoots, pylocks, cwd };
}

export function hasLocks(inputs: Inputs): boolean {
  return inputs.hashedRoots.length > 0 || inputs.pylocks.length > 0;
}

/** The key's lines and pip's locked set; `markers` is needed only when `hasLocks(inputs)`. */
export function resolveInputs(inputs: Inputs, markers: Pick<MarkerContext, 'environment'> | undefined, exists: (p: string) => boolean): ResolvedInputs {
  const { requirements } = inputs;
  const plainFiles = inputs.plainRoots.map((root) => requirements.files[root]!.path);
  const plainOptions = treeLines(requirements, inputs.plainRoots)
    .filter((entry) => !entry.constraint && !isRequirementLine(entry.line))
    .map((entry) => absoluteFindLinks(entry.line, entry.file, exists));
  if (!hasLocks(inputs)) return { lines: requirements.lines, locked: undefined, plainFiles, plainOptions };
  if (!markers) throw new Error('lock inputs need the interpreter');
  const context: MarkerContext = { ...markers, extras: new Set(), dependencyGroups: new Set() };
  const packages: LockedPackage[] = [];
  const options: string[] = [];
  for (const entry of treeLines(requirements, inputs.hashedRoots)) {
    const name = rel(inputs.cwd, entry.file);
    if (entry.constraint) {
      throw lockError(
        'REQUIREMENTS_LOCK_UNSUPPORTED',
        `${name} is included with -c from a hashed requirements file`,
        'compile the constraints into the hashed file (pip-compile -c), or pass them with a plain requirements file',
      );
    }
    if (!isRequirementLine(entry.line)) options.push(absoluteFindLinks(entry.line, entry.file, exists));
    else {
      const pkg = hashedRequirement(entry.line, name, context);
      if (pkg) packages.push(pkg);
    }
  }
  for (const lock of inputs.pylocks) packages.push(...readPylock(lock.text, lock.path, lock.name, markers));
  const locked = { packages: merged(packages), options };
  const plainLines = treeLines(requirements, inputs.plainRoots).map((entry) => (entry.constraint ? `-c ${entry.line}` : entry.line));
  return { lines: [...plainLines, ...lockedKeyLines(locked)], locked, plainFiles, plainOptions };
}

/**
 * The inputs as written, for a key that does not depend on an interpreter's markers (a portable one):
 * every line of every requirements file, and each PEP 751 lock by its digest.
 */
export function unresolvedInputs(inputs: Inputs, hash: (text: string) => string): ResolvedInputs {
  const { requirements } = inputs;
  const lines = treeLines(requirements, requirements.roots).map((entry) => (entry.constraint ? `-c ${entry.line}` : entry.line));
  for (const lock of inputs.pylocks) lines.push(`--pylock ${lock.name} sha256:${hash(lock.text)}`);
  return { lines, locked: undefined, plainFiles: inputs.plainRoots.map((root) => requirements.files[root]!.path), plainOptions: [] };
}

/** One entry per package; two locks may pin the same package only to the same version and hashes. */
function merged(packages: LockedPackage[]): LockedPackage[] {
  const byName = new Map<string, LockedPackage>();
  for (const pkg of packages) {
    const seen = byName.get(pkg.name);
    if (!seen) byName.set(pkg.name, pkg);
    else if (seen.version !== pkg.version || seen.hashes.join() !== pkg.hashes.join()) {
      throw lockError(
        'REQUIREMENTS_BAD_LOCK',
        `${pkg.name} is locked twice: ${seen.version} in ${seen.file}, ${pkg.version} in ${pkg.file}${seen.version === pkg.version ? ' (other hashes)' : ''}`,
        'lock it once, or make the locks agree',
      );
    } else byName.set(pkg.name, { ...seen, locations: [...new Set([...seen.locations, ...pkg.locations])].sort() });
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The lines under `roots` in reading order, each file once, as parseRequirementFiles met them. */
function treeLines(set: RequirementSet, roots: number[]): Array<{ line: string; file: string; constraint: boolean }> {
  const out: Array<{ line: string; file: string; constraint: boolean }> = [];
  const seen = new Set<number>();
  const visit = (index: number, constraint: boolean) => {
    if (seen.has(index)) return;
    seen.add(index);
    const file = set.files[index]!;
    for (const entry of file.entries) {
      if (entry.kind === 'line') out.push({ line: entry.text, file: file.path, constraint });
      else visit(entry.file, constraint || entry.flag === '-c');
    }
  };
  for (const root of roots) visit(root, false);
  return out;
}
