import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { interpreterTag } from '../../archive/provenance.js';
import type { CacheStore } from '../../cache/archives.js';
import type { BuildOptions, PipRun, Reuse, StoredLayer } from '../../env/build.js';
import { type StepOptions, step } from '../../env/build-step.js';
import { type PipPlan, pipPlan } from '../../env/pip-plan.js';
import { parsePipReport, type ReportedInstall } from '../../env/pip-report.js';
import { describeCause } from '../../errors.js';
import { listOrEmptySync, removeTree } from '../../io/fs.js';
import type { ResolvedInputs } from '../../key/inputs.js';
import type { LockedPackage } from '../../key/locked.js';
import { type Fingerprint, platformOf } from '../../python/fingerprint.js';
import type { Reporter } from '../../report/reporter.js';
import type { PublicKey } from '../../sign/minisign.js';
import type { Store } from '../../stores/store.js';
import { unrequest, writeRecord } from './dist-record.js';
import { type Found, layerFinder, type Wanted } from './find-layers.js';
import { distributionOf, sameVersion } from './layer-provenance.js';
import { PartlyMoved, type RestoredLayer, type RestoredLayers, type RestoreLayersJob, restoreLayers } from './restore-layers.js';

export interface AssembleJob {
  inputs: ResolvedInputs;
  python: Fingerprint;
  /** Where layers are looked up (the lookup order of a restore), and the cache their bytes are read from first. */
  stores: readonly Store[];
  cache: CacheStore | undefined;
  trusted: readonly PublicKey[];
  root: string;
  target: string;
  signal?: AbortSignal | undefined;
  reporter: Reporter;
}

/** What a build's reuse step is told of what it reused, for the summary and --json. */
export interface Assembled {
  layers: string[];
  pip: number;
}

/**
 * A miss assembled from stored layers (docs/layers.md): the distributions the environment will hold
 * worked out (a lock's exactly; plain requirement files by pip's own dry run in the new environment),
 * a stored layer found for each that has one, those restored while pip installs the rest, pinned to
 * the resolved artifacts. Undefined (a full build) when nothing can be reused. `assembled` is filled in.
 */
export function assembler(job: AssembleJob, assembled: Assembled): NonNullable<BuildOptions['reuse']> {
  const lookup = lookupOf(job);
  return async (site, stepOptions, seeded, pip) => {
    let ran = false;
    const run: PipRun = (plan) => {
      ran = true;
      return pip(plan);
    };
    try {
      return lookup && (await assemble(job, assembled, lookup, { site, stepOptions, seeded, pip: run }));
    } catch (error) {
      // Reuse only saves time: whatever stops it before pip runs (a damaged layer), pip builds in full.
      // Once the environment has changed (pip ran, layers were moved in), a failure is the build's: the target is left as it was.
      job.signal?.throwIfAborted();
      if (error instanceof PartlyMoved || ran) throw error;
      job.reporter.warn({ code: 'ASSEMBLY_SKIPPED', reason: describeCause(error) });
      return undefined;
    }
  };
}

/** How layers are found for this interpreter; a lock's looked up at once, while the venv is made. */
interface Lookup {
  find: (wanted: readonly Wanted[]) => Promise<Found[]>;
  locked: { wanted: Wanted[]; found: Promise<Found[]> } | undefined;
}

/** Undefined where nothing can be reused: no interpreter tag, or no store with an index. */
function lookupOf(job: AssembleJob): Lookup | undefined {
  const tag = interpreterTag(platformOf(job.python));
  if (!tag || !job.stores.some((store) => store.index)) return undefined;
  const find = layerFinder(job.stores, { platform: platformOf(job.python), tag, trusted: job.trusted, signal: job.signal });
  if (!job.inputs.locked) return { find, locked: undefined };
  const wanted = fromLock(job.inputs.locked.packages);
  const found = find(wanted.filter((w) => w.artifacts.length));
  // Awaited only if the venv is made: a failure before then is the build's to say.
  found.catch(() => undefined);
  return { find, locked: { wanted, found } };
}

interface Building {
  site: string;
  stepOptions: StepOptions;
  seeded: readonly ReportedInstall[];
  pip: PipRun;
}

async function assemble(
  job: AssembleJob,
  assembled: Assembled,
  { find, locked: lock }: Lookup,
  { site, stepOptions, seeded, pip }: Building,
): Promise<Reuse | undefined> {
  const siteRel = path.relative(job.root, site);
  const restoreJob: RestoreLayersJob = { ...job, siteRel, manifests: new Map() };
  const locked = lock?.wanted;
  // What the seeding installed (pip, setuptools) is there already, without bytecode: its stored layer has it.
  // Taken first, as pip's own runs (the dry run, then the rest) start faster with it; unless a lock replaces it.
  const fromSeed = seeded
    .filter((s) => !locked?.some((w) => w.dist === s.dist))
    .map((s): Wanted => ({ dist: s.dist, version: s.version, artifacts: [s.artifact!], requested: true, pins: [], seeded: true }));
  const taken = [await restoreLayers(await find(fromSeed), restoreJob)];
  const dispose = async () => {
    for (const one of taken) await removeTree(one.blobs);
  };
  try {
    const wanted = locked ?? (await fromDryRun(job, stepOptions));
    const installed = new Set(listOrEmptySync(site).map((name) => distInfoOf(name)?.dist));
    const found = (lock ? await lock.found : wanted ? await find(wanted.filter((w) => w.artifacts.length)) : []).filter((f) => !installed.has(f.wanted.dist));
    if (!wanted || !found.length) {
      if (!taken[0]!.restored.length) {
        await dispose();
        return undefined;
      }
      // Only the seeded distributions' bytecode: pip installs the inputs as they are.
      const { restored } = taken[0]!;
      return {
        installed: await pip(pipPlan(job.inputs)),
        restored: [],
        restoredNames: namesIn(restored, siteRel),
        known: new Map(),
        stored: storedOf(restored),
        dispose,
        finish: async () => undefined,
      };
    }
    const restored = await restoreWhilePip(job, { found, wanted, pip, restoreJob, taken });
    const all = taken.flatMap((one) => one.restored);
    return reuseOf(job, assembled, { ...restored, site, siteRel, dispose, restoredNames: namesIn(all, siteRel), stored: storedOf(all) });
  } catch (error) {
    await dispose();
    throw error;
  }
}

/**
 * The found layers restored while pip installs what no stored layer gives (the layers are read into a
 * folder of their own, and held to the environment, and moved in, once pip is done); then pip for any
 * layer refused. A failure to read the layers leaves them all to pip.
 */
async function restoreWhilePip(
  job: AssembleJob,
  { found, wanted, pip, restoreJob, taken }: { found: Found[]; wanted: Wanted[]; pip: PipRun; restoreJob: RestoreLayersJob; taken: RestoredLayers[] },
): Promise<{ restored: RestoredLayer[]; rest: Wanted[]; installed: ReportedInstall[] | undefined }> {
  const reusable = new Set(found.map((f) => f.wanted.dist));
  const first = wanted.filter((w) => !reusable.has(w.dist));
  const installing = first.length ? pip(restPlan(job.inputs, first)) : Promise.resolve([]);
  const restoring = job.reporter.during('reuse', async (phase) => {
    const result = await restoreLayers(found, { ...restoreJob, settled: installing });
    phase.done({ code: 'LAYERS_REUSED', layers: result.restored.length, bytes: result.bytes, distributions: wanted.length });
    return result;
  });
  const [pipped, read] = await Promise.allSettled([installing, restoring]);
  if (read.status === 'fulfilled') taken.push(read.value);
  if (pipped.status === 'rejected') throw pipped.reason;
  if (read.status === 'rejected') {
    job.signal?.throwIfAborted();
    if (read.reason instanceof PartlyMoved) throw read.reason;
    job.reporter.warn({ code: 'ASSEMBLY_SKIPPED', reason: describeCause(read.reason) });
  }
  const restored = read.status === 'fulfilled' ? read.value.restored : [];
  const reused = new Set(restored.map((r) => r.found.wanted.dist));
  const refused = wanted.filter((w) => reusable.has(w.dist) && !reused.has(w.dist));
  const more = refused.length ? await pip(restPlan(job.inputs, refused)) : [];
  return { restored, rest: [...first, ...refused], installed: pipped.value && more && [...pipped.value, ...more] };
}

/**
 * The restored layers to publish as they were read: a seeded one too, whose files the seeding wrote
 * with the same bytes, given its mtimes, and its bytecode.
 */
const storedOf = (restored: readonly RestoredLayer[]): StoredLayer[] =>
  restored.filter((r) => r.blob).map((r) => ({ layer: r.found.layer, blob: r.blob, files: r.files }));

/** The names in site-packages that restored layers hold. */
function namesIn(restored: readonly RestoredLayer[], siteRel: string): Set<string> {
  return new Set(
    restored.flatMap((r) => r.files.filter((file) => file.startsWith(`${siteRel}/`)).map((file) => file.slice(siteRel.length + 1).split('/')[0]!)),
  );
}

/** A miss assembled: the layers restored, and what pip would have written for them. */
function reuseOf(
  job: AssembleJob,
  assembled: Assembled,
  {
    restored,
    rest,
    installed,
    restoredNames,
    stored,
    site,
    siteRel,
    dispose,
  }: {
    restored: RestoredLayer[];
    rest: Wanted[];
    installed: ReportedInstall[] | undefined;
    restoredNames: Set<string>;
    stored: StoredLayer[];
    site: string;
    siteRel: string;
    dispose: () => Promise<void>;
  },
): Reuse {
  if (restored.length) {
    assembled.layers = restored.map((r) => r.found.layer.name).sort();
    assembled.pip = rest.length;
  }
  return {
    installed,
    restored: restored.map(
      ({ found: { wanted: w, layer } }): ReportedInstall => ({
        dist: w.dist,
        version: w.version,
        artifact: layer.provenance.artifact,
        wheel: true,
        requested: w.requested,
        direct: false,
      }),
    ),
    restoredNames,
    known: new Map(
      restored.flatMap((r) => {
        const rewritten = new Set(r.rewritten);
        return r.files.map((file): [string, boolean] => [file, rewritten.has(file)]);
      }),
    ),
    stored,
    dispose,
    finish: async () => {
      for (const r of restored) await writeRecord(job.root, siteRel, r.distInfo, r.files, r.found.wanted.requested, r.digests);
      // pip wrote REQUESTED for every distribution the assembly named: a full build would not have for a dependency.
      for (const w of rest.filter((one) => !one.requested)) {
        const folder = listOrEmptySync(site).find((name) => {
          const named = distInfoOf(name);
          return named?.dist === w.dist && sameVersion(w.version, named.version);
        });
        if (folder) await unrequest(site, folder);
      }
    },
  };
}

/** The distribution a site-packages entry is the `.dist-info` folder of, if it is one. */
const distInfoOf = (name: string) => (name.endsWith('.dist-info') ? distributionOf(name.slice(0, -'.dist-info'.length)) : undefined);

/** A lock's packages, exactly: pip installs each (--no-deps) from the file its hashes name, and names each (so each is requested). */
function fromLock(packages: readonly LockedPackage[]): Wanted[] {
  return packages.map((pkg) => ({
    dist: pkg.name,
    version: pkg.version,
    artifacts: pkg.hashes.filter((hash) => hash.startsWith('sha256:')).map((hash) => hash.slice(7)),
    requested: true,
    pins: pkg.hashes,
  }));
}

/**
 * What `pip install -r FILES` would install in this environment, by pip's own resolution (a dry run
 * with the user's index settings, which reads metadata, not wheels, where the index serves it).
 * Undefined when something is not installed from a file of known sha256 (a folder, a direct URL, an
 * editable install): pinning the rest would not be the same install.
 */
async function fromDryRun(job: AssembleJob, stepOptions: StepOptions): Promise<Wanted[] | undefined> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'terrarium-resolve-'));
  try {
    const report = path.join(dir, 'report.json');
    const args = ['-m', 'pip', 'install', '--dry-run', '--quiet', '--report', report, ...job.inputs.plainFiles.flatMap((file) => ['-r', file])];
    const python = path.join(job.root, 'bin', 'python');
    const installs = await job.reporter.during('resolve', async (phase) => {
      // A dry run that fails is a full build's to report: pip's run there fails the same way and says why.
      const result = await step(job.reporter, python, args, stepOptions);
      const reported = result.code === 0 ? parsePipReport(await fs.readFile(report, 'utf8')) : undefined;
      if (reported) phase.done({ code: 'RESOLVED', count: reported.length });
      return reported;
    });
    if (!installs || installs.some((i) => i.direct || !i.artifact)) return undefined;
    return installs.map((i) => ({
      dist: i.dist,
      version: i.version,
      artifacts: i.wheel ? [i.artifact!] : [],
      requested: i.requested,
      pins: [`sha256:${i.artifact}`],
    }));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** pip's runs for what was not reused: each pinned to its resolved files by hash, --no-deps, with the index settings the inputs give. */
function restPlan(inputs: ResolvedInputs, rest: readonly Wanted[]): PipPlan {
  const names = new Set(rest.map((w) => w.dist));
  const packages: LockedPackage[] = inputs.locked
    ? inputs.locked.packages.filter((pkg) => names.has(pkg.name))
    : rest.map((w) => ({ name: w.dist, version: w.version, hashes: [...w.pins], locations: [], file: '' }));
  const options = inputs.locked ? inputs.locked.options : inputs.plainOptions;
  return pipPlan({ lines: [], locked: { packages, options }, plainFiles: [], plainOptions: [] });
}
