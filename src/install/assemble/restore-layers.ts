import { promises as fs } from 'node:fs';
import path from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { ChecksumStream } from '../../archive/checksum.js';
import type { Entry } from '../../archive/entry.js';
import { extractLayers } from '../../archive/extract.js';
import type { Layer } from '../../archive/layers.js';
import { type Manifest, PLACEHOLDER_PREFIX } from '../../archive/manifest.js';
import { unpackLimits } from '../../archive/parts.js';
import { readArchive } from '../../archive/read.js';
import { TerrariumError } from '../../errors.js';
import { lstatOrMissing, readBoundedSync, removeTree, siblingPath } from '../../io/fs.js';
import type { Fingerprint } from '../../python/fingerprint.js';
import { makeRelocator } from '../../relocate/relocator.js';
import type { Reporter } from '../../report/reporter.js';
import { isWritable, type Store } from '../../stores/store.js';
import { dropDamagedBlob, layerPart } from '../../stores/verify.js';
import type { Found } from './find-layers.js';
import { layerProblem } from './layer-check.js';
import { moveInto } from './move-into.js';

/** A layer restored into the environment: the distribution it installs, its `.dist-info` folder and its files (relative to the environment). */
export interface RestoredLayer {
  found: Found;
  distInfo: string;
  files: string[];
}

export interface RestoreLayersJob {
  /** The new environment (venv and pip only), and its site-packages relative to it. */
  root: string;
  siteRel: string;
  target: string;
  python: Fingerprint;
  /** The local cache, read before the stores for layers it has. */
  cache: Store | undefined;
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
export async function restoreLayers(found: readonly Found[], job: RestoreLayersJob): Promise<{ restored: RestoredLayer[]; bytes: number }> {
  const manifests = new Map<Found['record'], Manifest | undefined>();
  const usable: Found[] = [];
  for (const one of found) {
    if (!manifests.has(one.record)) manifests.set(one.record, await sourceManifest(one, job).catch(() => undefined));
    const manifest = manifests.get(one.record);
    if (manifest && one.record.codec === found[0]!.record.codec) usable.push(one);
    else refuse(job, one, 'its archive was not built for this Python, or its environment layer cannot be read');
  }
  if (!usable.length) return { restored: [], bytes: 0 };
  const known = [...manifests.values()].filter((m): m is Manifest => m !== undefined);
  const relocator = makeRelocator({ text: known.flatMap((m) => m.text), binary: [], prefix: PLACEHOLDER_PREFIX }, job.root, job.python);
  const scratch = siblingPath(job.target, 'layers');
  const entries = usable.map((): Entry[] => []);
  try {
    await fs.mkdir(scratch, { mode: 0o755 });
    const parts = usable.map((one) => layerSource(one, job));
    const limits = {
      bytes: usable.reduce((sum, one) => sum + unpackLimits(one.layer).bytes, 0),
      entries: usable.reduce((sum, one) => sum + unpackLimits(one.layer).entries, 0),
    };
    await extractLayers(parts as [(typeof parts)[0], ...typeof parts], usable[0]!.record.codec, scratch, () => relocator, {
      manifest: known[0],
      entered: (index, entry) => entries[index]!.push(entry),
      limits,
    });
    const restored: RestoredLayer[] = [];
    const taken = new Set<string>();
    for (const [index, one] of usable.entries()) {
      const files = entries[index]!.filter((entry) => entry.type !== 'directory').map((entry) => entry.path);
      const metadata = (distInfo: string) => readBoundedSync(path.join(scratch, distInfo, 'METADATA'), 1 << 20).toString('utf8');
      const checked = layerProblem(entries[index]!, one.wanted, { siteRel: job.siteRel, binary: new Set(manifests.get(one.record)!.binary), metadata });
      const clash = checked.problem ? undefined : await firstClash(job.root, files, taken);
      const problem = checked.problem ?? (clash && `${clash} is in the environment already`);
      if (problem) {
        refuse(job, one, problem);
        for (const file of files) await fs.rm(path.join(scratch, file), { force: true });
        continue;
      }
      for (const file of files) taken.add(file);
      restored.push({ found: one, distInfo: checked.distInfo!, files });
    }
    await moveInto(scratch, job.root);
    return { restored, bytes: parts.reduce((sum, part) => sum + part.bytes(), 0) };
  } finally {
    await removeTree(scratch);
  }
}

function refuse(job: RestoreLayersJob, one: Found, cause: string): void {
  job.reporter.warn({ code: 'LAYER_NOT_REUSED', layer: one.layer.name, store: one.store.description, cause });
}

/** A file of `files` that the environment (or another layer taken) has already, or a folder of it that is no real folder there. */
async function firstClash(root: string, files: readonly string[], taken: ReadonlySet<string>): Promise<string | undefined> {
  const folders = new Map<string, boolean>();
  for (const file of files) {
    if (taken.has(file) || (await lstatOrMissing(path.join(root, file)))) return file;
    for (let dir = path.posix.dirname(file); dir !== '.'; dir = path.posix.dirname(dir)) {
      if (!folders.has(dir)) {
        const stat = await lstatOrMissing(path.join(root, dir));
        folders.set(dir, !stat || stat.isDirectory());
      }
      if (!folders.get(dir)) return dir;
    }
  }
  return undefined;
}

/** A layer's bytes from the cache where it has them, else from its store, through its sha256; a damaged blob is removed as a restore removes it. */
function layerSource(one: Found, job: RestoreLayersJob) {
  return layerPart(
    one.layer,
    `layer ${one.layer.name} (${one.layer.sha256.slice(0, 16)}) of ${one.record.key}`,
    async () => {
      const stream = await openLayer(one.store, one.layer, job);
      return { stream, bounded: true };
    },
    async (error) => {
      if (isWritable(one.store)) await dropDamagedBlob(one.store, one.layer, job.signal);
      return error;
    },
  );
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
