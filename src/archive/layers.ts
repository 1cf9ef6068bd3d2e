import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Entry } from './entry.js';
import { type Provenance, provenanceWords } from './provenance.js';

/**
 * Archive format 2 stores an environment as layers: one for the environment's own files (first, with
 * the manifest) and one per installed distribution, each a compressed tar stored once under its sha256.
 * Two environments that share a distribution share its layer's blob (docs/layers.md).
 */
export interface Layer {
  /** What the layer holds, for people: `environment`, or a distribution's `name-version`. */
  name: string;
  sha256: string;
  /** Bytes as stored (compressed). */
  size: number;
  /** Bytes of its files once unpacked, and its tar entries. */
  unpackedSize: number;
  entries: number;
  /**
   * The digest of its tree (tree-digest.ts): what an install linking the layer's unpacked copy from
   * the cache checks it against. Absent in archives packed by earlier versions (their document is of version 1).
   */
  tree?: string | undefined;
  /** A distribution's layer that can be reused by another key: the wheel it was installed from (provenance.ts). */
  provenance?: Provenance | undefined;
}

export const ENVIRONMENT_LAYER = 'environment';
/** A portable environment's interpreter layer is named `interpreter-cpython-3.12.1`: no distribution's `.dist-info` name has this form. */
export const INTERPRETER_LAYER_PREFIX = 'interpreter-';

/** A distribution's files as its RECORD lists them, relative to the environment's root. */
export interface Claim {
  /** `name-version`, from the `.dist-info` folder's name. */
  name: string;
  files: string[];
}

export interface LayerPlan {
  name: string;
  entries: Entry[];
  provenance?: Provenance | undefined;
}

/**
 * What differs between two environments holding the same distribution stays in the environment's
 * layer: a RECORD lists REQUESTED only where the user asked for the package, and direct_url.json names
 * where it came from.
 */
const ENVIRONMENT_OWNED = new Set(['RECORD', 'REQUESTED', 'direct_url.json']);

const PYC = /^(.*)\/__pycache__\/([^/]+?)\.[^/]+\.pyc$/;

/**
 * Splits a built environment's entries into layers: each distribution's layer holds the files its
 * RECORD claims (and the bytecode of its modules, which RECORD lists only where pip compiled it),
 * sorted, so that the same distribution packs to the same bytes; the environment's layer holds the rest,
 * directories included, in scan order. A file two RECORDs claim goes to the first distribution by name.
 */
export function planLayers(entries: readonly Entry[], claims: readonly Claim[]): LayerPlan[] {
  const owner = new Map<string, string>();
  for (const claim of [...claims].sort((a, b) => compareBytes(a.name, b.name))) {
    for (const file of claim.files) {
      if (!owner.has(file) && !ENVIRONMENT_OWNED.has(path.posix.basename(file))) owner.set(file, claim.name);
    }
  }
  const layers = new Map<string, Entry[]>();
  const environment: Entry[] = [];
  for (const entry of entries) {
    const name = entry.type === 'directory' ? undefined : (owner.get(entry.path) ?? ownerOfBytecode(entry.path, owner));
    if (name === undefined) environment.push(entry);
    else if (layers.has(name)) layers.get(name)!.push(entry);
    else layers.set(name, [entry]);
  }
  const distributions = [...layers].sort(([a], [b]) => compareBytes(a, b));
  return [
    { name: ENVIRONMENT_LAYER, entries: environment },
    ...distributions.map(([name, files]) => ({ name, entries: files.sort((a, b) => compareBytes(a.path, b.path)) })),
  ];
}

function ownerOfBytecode(file: string, owner: Map<string, string>): string | undefined {
  const match = PYC.exec(file);
  return match ? owner.get(`${match[1]}/${match[2]}.py`) : undefined;
}

const compareBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

const DIST_INFO_RECORD = /^(.*\/site-packages)\/([^/]+)\.dist-info\/RECORD$/;
const MAX_RECORD_FILE = 16 << 20;

/** The claims of every distribution installed in the environment at `root` (its scan's entries), from their RECORDs. */
export function readClaims(root: string, entries: readonly Entry[]): Claim[] {
  const claims: Claim[] = [];
  for (const entry of entries) {
    const match = entry.type === 'file' && entry.size <= MAX_RECORD_FILE ? DIST_INFO_RECORD.exec(entry.path) : null;
    if (!match) continue;
    const site = match[1]!;
    const files = recordPaths(readFileSync(path.join(root, entry.path), 'utf8'))
      .map((file) => path.posix.normalize(path.posix.join(site, file)))
      .filter((file) => file !== '..' && !file.startsWith('../') && !path.posix.isAbsolute(file));
    claims.push({ name: match[2]!, files });
  }
  return claims;
}

/** The paths of a RECORD (CSV: path, hash, size; a path with a comma or quote is quoted). */
export function recordPaths(text: string): string[] {
  const paths: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line) continue;
    if (!line.startsWith('"')) {
      paths.push(line.slice(0, line.indexOf(',') < 0 ? undefined : line.indexOf(',')));
      continue;
    }
    let value = '';
    for (let i = 1; i < line.length; i++) {
      if (line[i] !== '"') value += line[i];
      else if (line[i + 1] !== '"') break;
      else {
        value += '"';
        i++;
      }
    }
    paths.push(value);
  }
  return paths;
}

/**
 * The text a layered archive's sha256 (and its signature) is made over: every layer's digest, size and
 * counts in order, (version 2) its tree's digest and (version 3) its provenance. A record's layers are
 * held to it, so a signature covers every layer, what its unpacked copy must hold and what it may be
 * reused for.
 */
export function layersDocument(layers: readonly Layer[]): string {
  if (layers.some((l) => l.provenance) && layers.every((l) => l.tree !== undefined))
    return `terrarium-layers 3\n${layers.map((l) => `${l.sha256} ${l.size} ${l.unpackedSize} ${l.entries} ${l.tree} ${l.name} ${provenanceWords(l.provenance)}\n`).join('')}`;
  if (layers.every((l) => l.tree !== undefined))
    return `terrarium-layers 2\n${layers.map((l) => `${l.sha256} ${l.size} ${l.unpackedSize} ${l.entries} ${l.tree} ${l.name}\n`).join('')}`;
  return `terrarium-layers 1\n${layers.map((l) => `${l.sha256} ${l.size} ${l.unpackedSize} ${l.entries} ${l.name}\n`).join('')}`;
}

export const layersDigest = (layers: readonly Layer[]): string => createHash('sha256').update(layersDocument(layers)).digest('hex');

/** BLAKE2b-512 of the layers document: what a minisign signature of a layered archive signs. */
export const layersPrehash = (layers: readonly Layer[]): Buffer => createHash('blake2b512').update(layersDocument(layers)).digest();
