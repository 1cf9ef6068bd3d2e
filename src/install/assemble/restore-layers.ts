import { promises as fs, lstatSync, readFileSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { ChecksumStream } from '../../archive/checksum.js';
import type { Entry } from '../../archive/entry.js';
import { extractLayers } from '../../archive/extract.js';
import type { Layer } from '../../archive/layers.js';
import { type Manifest, PLACEHOLDER_PREFIX } from '../../archive/manifest.js';
import { unpackLimits } from '../../archive/parts.js';
import { readArchive } from '../../archive/read.js';
import type { CacheStore } from '../../cache/archives.js';
import { describeCause, TerrariumError } from '../../errors.js';
import { readBoundedSync, removeTree, siblingPath } from '../../io/fs.js';
import type { Fingerprint } from '../../python/fingerprint.js';
import { makeRelocator } from '../../relocate/relocator.js';
import type { Reporter } from '../../report/reporter.js';
import type { Store } from '../../stores/store.js';
import { layerReader } from '../read/layer-reader.js';
import { digestOf, type FileDigest } from './dist-record.js';
import type { Found } from './find-layers.js';
import { layerProblem } from './layer-check.js';
import { moveInto } from './move-into.js';

/** A layer restored into the environment: the distribution it installs, its `.dist-info` folder and its files (relative to the environment). */
export interface RestoredLayer {
  found: Found;
  distInfo: string;
  files: string[];
  /** Those of its files that name the environment's path (rewritten as they were restored). */
  rewritten: string[];
  /** The sha256 and size of its files (and others') as they were unpacked. */
  digests: ReadonlyMap<string, FileDigest>;
  /** Its blob as read (in `RestoredLayers.blobs`), for the new archive to publish as it is. */
  blob: string;
}

export interface RestoredLayers {
  restored: RestoredLayer[];
  /** Bytes read from stores and the cache. */
  bytes: number;
  /** The folder beside the target that holds the blobs read, until the caller removes it. */
  blobs: string;
}

export interface RestoreLayersJob {
  /** The new environment (venv and pip only), and its site-packages relative to it. */
  root: string;
  siteRel: string;
  target: string;
  python: Fingerprint;
  /** The local cache, read before the stores for layers it has. */
  cache: CacheStore | undefined;
  /** The source records' manifests read so far in this run (undefined: not one to take layers from). */
  manifests: Map<Found['record'], Manifest | undefined>;
  /** Settles once the environment is as it will be held to (pip installs into it as the layers are read); its failure is thrown. */
  settled?: Promise<unknown> | undefined;
  signal?: AbortSignal | undefined;
  reporter: Reporter;
}

/**
 * Restores found layers into a new environment, through the checks of any restore: each source
 * record's environment layer read first for the manifest that says which of its files name the build
 * path (and that it was built for this Python), then every layer through its sha256 and the entry
 * checks into a folder beside the target, moved as text files are moved. Each layer is then held to
 * what was resolved (layer-check.ts) and to the environment (no file where one is): one that fails is
 * dropped, said, and left to pip. What passed is moved into the environment. A failure of a layer's
 * bytes or entries throws: the caller builds in full.
 */
export async function restoreLayers(found: readonly Found[], job: RestoreLayersJob): Promise<RestoredLayers> {
  const { manifests } = job;
  const usable: Found[] = [];
  for (const one of found) {
    if (!manifests.has(one.record)) manifests.set(one.record, await sourceManifest(one, job).catch(() => undefined));
    const manifest = manifests.get(one.record);
    if (manifest && one.record.codec === found[0]!.record.codec) usable.push(one);
    else refuse(job, one, 'its archive was not built for this Python, or its environment layer cannot be read');
  }
  const blobs = siblingPath(job.target, 'blobs');
  if (!usable.length) return { restored: [], bytes: 0, blobs };
  const known = [...manifests.values()].filter((m): m is Manifest => m !== undefined);
  const relocator = makeRelocator({ text: known.flatMap((m) => m.text), binary: [], prefix: PLACEHOLDER_PREFIX }, job.root, job.python);
  const scratch = siblingPath(job.target, 'layers');
  const entries = usable.map((): Entry[] => []);
  const digests = new Map<string, FileDigest>();
  // Every layer is kept as read (the cache's too): the new archive publishes it as it is.
  const reader = layerReader(
    usable.map((one) => ({ layer: one.layer, store: one.store, what: `layer ${one.layer.name} (${one.layer.sha256.slice(0, 16)}) of ${one.record.key}` })),
    { cache: job.cache, copies: blobs, copyCached: true, signal: job.signal },
  );
  let kept = false;
  try {
    await fs.mkdir(scratch, { mode: 0o755 });
    const limits = {
      bytes: usable.reduce((sum, one) => sum + unpackLimits(one.layer).bytes, 0),
      entries: usable.reduce((sum, one) => sum + unpackLimits(one.layer).entries, 0),
    };
    await extractLayers(reader.parts, usable[0]!.record.codec, scratch, () => relocator, {
      manifest: known[0],
      entered: (index, entry) => entries[index]!.push(entry),
      written: (file, sha256, size) => digests.set(file, { sha256, size }),
      discard: (index, entry) => notUnpacked(usable[index]!, entry.path),
      limits,
    });
    await job.settled;
    const restored: RestoredLayer[] = [];
    const taken = new Set<string>();
    for (const [index, one] of usable.entries()) {
      const files = entries[index]!.filter((entry) => entry.type !== 'directory').map((entry) => entry.path);
      const metadata = (distInfo: string) => readBoundedSync(path.join(scratch, distInfo, 'METADATA'), 1 << 20).toString('utf8');
      const checked = layerProblem(entries[index]!, one.wanted, { siteRel: job.siteRel, binary: new Set(manifests.get(one.record)!.binary), metadata });
      const clash = checked.problem ? undefined : one.wanted.seeded ? notAsSeeded(job.root, files, digests) : firstClash(job.root, files, taken);
      const problem = checked.problem ?? (clash && (one.wanted.seeded ? clash : `${clash} is in the environment already`));
      // A seeded distribution keeps its files, given the layer's mtimes, which its bytecode names: only that bytecode is moved in.
      if (!problem && one.wanted.seeded)
        for (const entry of entries[index]!.filter((e) => e.type === 'file' && !isBytecode(e.path))) {
          utimesSync(path.join(job.root, entry.path), new Date(entry.mtime), new Date(entry.mtime));
        }
      const dropped = problem ? files : one.wanted.seeded ? files.filter((file) => !isBytecode(file)) : [];
      for (const file of dropped.filter((f) => !notUnpacked(one, f))) await fs.rm(path.join(scratch, file), { force: true });
      if (problem) {
        refuse(job, one, problem);
        continue;
      }
      for (const file of files) taken.add(file);
      restored.push({
        found: one,
        distInfo: checked.distInfo!,
        files,
        rewritten: files.filter((file) => relocator.needs(file)),
        digests,
        blob: reader.copyPath(index),
      });
    }
    await moveInto(scratch, job.root).catch((error: unknown) => {
      throw new PartlyMoved(error);
    });
    // A blob whose copy failed is packed again from the files, as any other layer.
    for (const r of restored) if (!(await reader.copy(usable.indexOf(r.found))?.written())) r.blob = '';
    kept = true;
    return { restored, bytes: reader.bytes(), blobs };
  } finally {
    await removeTree(scratch);
    if (!kept) await reader.dispose();
  }
}

/** Moving the layers into the environment failed part-way: it is no longer the fresh one a full build would start from. */
export class PartlyMoved extends Error {
  constructor(cause: unknown) {
    super(`moving stored layers into the new environment failed: ${describeCause(cause)}`, { cause });
  }
}

function refuse(job: RestoreLayersJob, one: Found, cause: string): void {
  job.reporter.warn({ code: 'LAYER_NOT_REUSED', layer: one.layer.name, store: one.store.description, cause });
}

/**
 * A file of `files` that the environment (or another layer taken) has already, or a folder of it that
 * is no real folder there. A file whose folder the environment lacks cannot be there: most files are
 * answered by one lookup of their folder, remembered.
 */
function firstClash(root: string, files: readonly string[], taken: ReadonlySet<string>): string | undefined {
  const folders = new Map<string, 'folder' | 'missing' | 'other'>([['.', 'folder']]);
  const folder = (dir: string): 'folder' | 'missing' | 'other' => {
    let kind = folders.get(dir);
    if (kind === undefined) {
      const parent = folder(path.posix.dirname(dir));
      const stat = parent === 'folder' ? lstatSyncOrMissing(path.join(root, dir)) : undefined;
      kind = parent === 'other' ? 'other' : !stat ? 'missing' : stat.isDirectory() ? 'folder' : 'other';
      folders.set(dir, kind);
    }
    return kind;
  };
  for (const file of files) {
    const dir = folder(path.posix.dirname(file));
    if (dir === 'other') return path.posix.dirname(file);
    if (taken.has(file) || (dir === 'folder' && lstatSyncOrMissing(path.join(root, file)))) return file;
  }
  return undefined;
}

const lstatSyncOrMissing = (file: string) => lstatSync(file, { throwIfNoEntry: false });

const isBytecode = (file: string) => /\/__pycache__\/[^/]+\.pyc$/.test(file);

/** A seeded distribution's files are there already: they are only compared with its layer's (but its METADATA, which the check reads, and its bytecode). */
const notUnpacked = (one: Found, file: string) => one.wanted.seeded === true && !isBytecode(file) && !file.endsWith('.dist-info/METADATA');

/** Why a seeded distribution's layer is not what the seeding installed (every file but bytecode there, the same bytes; no bytecode there yet), or undefined. */
function notAsSeeded(root: string, files: readonly string[], digests: ReadonlyMap<string, FileDigest>): string | undefined {
  for (const file of files) {
    const there = lstatSyncOrMissing(path.join(root, file));
    if (isBytecode(file)) {
      if (there) return `${file} is in the environment already`;
    } else if (!there?.isFile() || !digestOf(readFileSync(path.join(root, file))).sha256.equals(digests.get(file)!.sha256)) {
      return `${file} is not as the seeding installed it`;
    }
  }
  return undefined;
}

async function openLayer(store: Store, layer: Layer, job: RestoreLayersJob): Promise<Readable> {
  const stream = (job.cache && (await job.cache.openBlob(layer).catch(() => undefined))) ?? (await store.openBlob(layer));
  if (job.signal) addAbortSignal(job.signal, stream);
  return stream;
}

/**
 * The manifest of the archive a found layer belongs to, from its environment layer (read whole through
 * its sha256: it is small), when that archive is a layered one of the same key, built for this Python.
 */
async function sourceManifest(one: Found, job: RestoreLayersJob): Promise<Manifest | undefined> {
  const layer = one.record.layers[0]!;
  const checksum = new ChecksumStream({ limit: layer.size });
  const manifest = await readArchive(
    [await openLayer(one.store, layer, job), checksum],
    one.record.codec,
    { manifest: () => DISCARD },
    'its archive is damaged',
  );
  if (checksum.hex() !== layer.sha256 || checksum.bytes !== layer.size) throw new TerrariumError('ARCHIVE_CORRUPT', `layer ${layer.name} is damaged`);
  const [major, minor] = job.python.version;
  const fits = manifest.key === one.record.key && manifest.prefix === PLACEHOLDER_PREFIX && !manifest.portable;
  return fits && manifest.python.version[0] === major && manifest.python.version[1] === minor ? manifest : undefined;
}

const DISCARD = { entry() {}, data() {}, end() {} };
