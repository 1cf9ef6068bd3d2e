import { promises as fs } from 'node:fs';
import type { Readable } from 'node:stream';
import { addAbortSignal } from 'node:stream';
import { compressor } from '../archive/codecs.js';
import { packEnvironment } from '../archive/create.js';
import { type Claim, INTERPRETER_LAYER_PREFIX, type LayerPlan, planLayers, readClaims } from '../archive/layers.js';
import { MANIFEST_FORMAT, MANIFEST_FORMAT_PORTABLE, type Manifest, PLACEHOLDER_PREFIX } from '../archive/manifest.js';
import { packLayers } from '../archive/pack-layers.js';
import { interpreterTag } from '../archive/provenance.js';
import type { LocalArchive } from '../archive/save.js';
import { saveArchive } from '../archive/save.js';
import { type ScanResult, scanEnvironment } from '../archive/scan.js';
import type { CacheStore } from '../cache/archives.js';
import { writeBootstrap } from '../env/bootstrap.js';
import { type BuildOutcome, buildEnvironment } from '../env/build.js';
import { type Bundled, bundleInterpreter, sealBundle } from '../env/bundle.js';
import { findOutsidePaths } from '../env/outside-paths.js';
import { pipPlan } from '../env/pip-plan.js';
import { TerrariumError } from '../errors.js';
import { failpoint } from '../io/failpoint.js';
import { siblingPath } from '../io/fs.js';
import { shownLine } from '../key/line-diff.js';
import type { ResolvedKey } from '../key/resolve.js';
import { type Fingerprint, platformOf } from '../python/fingerprint.js';
import { BUNDLE_DIR, carriedPython } from '../python/portable.js';
import { outsideLinks } from '../relocate/relocations.js';
import { MAX_RELOCATED_BYTES, makeRelocator } from '../relocate/relocator.js';
import { formatBytes, formatCount, groupDigits } from '../report/format.js';
import type { Reporter } from '../report/reporter.js';
import { describeOutsidePath } from '../report/words.js';
import { signArchiveFile, signLayers } from '../sign/archive-signature.js';
import type { Store, WritableStore } from '../stores/store.js';
import { TOOL_VERSION } from '../version.js';
import { type Assembled, assembler } from './assemble/assemble.js';
import { storedLayerFor, withProvenance } from './assemble/layer-provenance.js';
import { type Publication, publishEverywhere } from './publish.js';
import { relocateInPlace } from './read/relocation.js';
import type { BuildSettings, InstallOptions, JobContext, RunKeys } from './settings.js';

export interface BuildJob extends Pick<InstallOptions, 'cwd' | 'env'>, RunKeys, JobContext {
  settings: BuildSettings;
  resolved: ResolvedKey;
  /** The interpreter this machine builds with (for a portable key, the one the environment will carry). */
  python: Fingerprint;
  staging: string;
  target: string;
  /** Where a new archive goes (empty: nowhere, as with --no-upload). */
  publishTo: WritableStore[];
  /** A rebuild with --no-download: a stored archive in the way that fails verification is replaced. */
  heal: boolean;
  /** Where a miss looks for layers to reuse (empty: none is reused), and the cache read first for their bytes. */
  reuseFrom: Store[];
  cache: CacheStore | undefined;
}

/** Where a build publishes: nowhere when runners that trust only signed archives would pass an unsigned one over. */
export function publishTargets(job: Pick<BuildJob, 'publishTo' | 'trusted' | 'signingKey'>): WritableStore[] {
  return job.trusted.length && !job.signingKey ? [] : job.publishTo;
}

/** What a build made: where it was published, and the manifest of the environment it left in staging. */
export interface Built {
  published: Publication[];
  /** The size of the archive packed for publishing (0: none was packed). */
  bytes: number;
  manifest: Manifest;
  /** A miss assembled from stored layers: the layers reused and how many distributions pip installed. */
  assembled: Assembled | undefined;
}

/**
 * Builds the environment in staging (venv + pip, with a portable key the interpreter copied in first),
 * packs it once into a file beside staging (signed with --sign-key) and publishes that file to every
 * store; a store that fails is a warning, never a failed install. Returns what happened at each store.
 */
export async function buildAndPublish(job: BuildJob): Promise<Built> {
  const { reporter, resolved } = job;
  reporter.info({ code: 'BUILDING', key: resolved.key, executable: job.python.executable });
  const assembled: Assembled = { layers: [], pip: 0 };
  const built = await buildInStaging(job, assembled);
  try {
    const done = await packAndPublish(job, built);
    return { ...done, assembled: built.outcome.reuse && assembled.layers.length ? assembled : undefined };
  } finally {
    await built.outcome.reuse?.dispose();
  }
}

/** Steps two and three: the environment built in staging packed, signed and published, then relocated for the target. */
async function packAndPublish(job: BuildJob, { python, bundled, outcome }: Awaited<ReturnType<typeof buildInStaging>>): Promise<Omit<Built, 'assembled'>> {
  const { reporter, resolved, staging } = job;
  failpoint('install-built');
  if (job.settings.bootstrap) await writeBootstrap(staging, resolved);
  const scan = scanEnvironment(staging, python.executable, outcome.reuse?.known);
  for (const file of scan.binary) reporter.warn({ code: 'BUILD_PATH_IN_BINARY', file, limit: staging.length });
  for (const file of scan.tooLarge) reporter.warn({ code: 'BUILD_PATH_TOO_LARGE', file, limit: MAX_RELOCATED_BYTES });
  const manifest: Manifest = {
    format: bundled ? MANIFEST_FORMAT_PORTABLE : MANIFEST_FORMAT,
    tool: TOOL_VERSION,
    created: new Date().toISOString(),
    key: resolved.key,
    prefix: staging,
    // A carried interpreter is named where the layers' text files name the environment: the same from any build.
    python: bundled ? carriedPython(python, PLACEHOLDER_PREFIX) : python,
    ...(bundled ? { portable: bundled.facts } : {}),
    requirements: resolved.inputs.lines,
    text: scan.text,
    binary: scan.binary,
    interpreterLinks: scan.interpreterLinks,
    externalLinks: scan.externalLinks,
  };
  let published: Publication[] = [];
  let bytes = 0;
  const publishTo = publishTargets(job);
  if (publishTo.length < job.publishTo.length) reporter.info({ code: 'NOT_PUBLISHED_UNSIGNED', key: resolved.key });
  if (publishTo.length) {
    await checkOutsidePaths(staging, resolved.key, outsideLinks(scan.externalLinks, python.prefix), job.settings.allowOutsidePaths, reporter);
    const archive = await packForPublishing(job, scan, manifest, bundled, outcome);
    bytes = archive.size;
    try {
      archive.requirements = resolved.inputs.lines.map(shownLine);
      archive.platform = platformOf(python);
      archive.portable = bundled?.facts;
      if (job.signingKey) {
        archive.signature = archive.layers
          ? signLayers(archive.layers, resolved.key, archive.sha256, job.signingKey)
          : await signArchiveFile(archive.path, resolved.key, archive.sha256, job.signingKey);
        reporter.detail({ code: 'SIGNED', key: resolved.key, keyId: job.signingKey.id });
      }
      published = await publishEverywhere(resolved.key, archive, publishTo, {
        heal: job.heal,
        linksOutside: outsideLinks(scan.externalLinks, python.prefix).length > 0,
        trusted: job.trusted,
        signal: job.signal,
        reporter,
      });
    } finally {
      await fs.rm(archive.path, { force: true, recursive: true });
    }
  }
  await relocateInPlace(staging, manifest, job.target, bundled ? carriedPython(python, job.target) : python);
  return { published, bytes, manifest };
}

/** Everything under the bundle's folder but its folders (which the environment's layer holds, as it holds every folder). */
function interpreterClaim(bundled: Bundled, scan: ScanResult): Claim {
  const files = scan.entries.filter((entry) => entry.type !== 'directory' && entry.path.startsWith(`${BUNDLE_DIR}/`)).map((entry) => entry.path);
  return { name: `${INTERPRETER_LAYER_PREFIX}${bundled.facts.interpreter}`, files };
}

/** Step one: the environment in staging (venv + pip), made from the interpreter it will carry where the key is portable. */
async function buildInStaging(job: BuildJob, assembled: Assembled): Promise<{ python: Fingerprint; bundled: Bundled | undefined; outcome: BuildOutcome }> {
  const { reporter, resolved, staging } = job;
  if (resolved.portable && job.settings.format !== 2) {
    throw new TerrariumError('USAGE', '--portable needs the layered archive format (--format 2)', { hint: 'drop --format 1' });
  }
  const bundled = resolved.portable
    ? await bundleInterpreter({
        python: job.python,
        dir: staging,
        mtime: LAYER_MTIME,
        placeholder: PLACEHOLDER_PREFIX,
        env: job.env,
        reporter,
        signal: job.signal,
      })
    : undefined;
  // The environment is made by the interpreter it will run on: the copy, where it carries one.
  const python = bundled?.python ?? job.python;
  const outcome = await buildEnvironment({
    python,
    builder: job.settings.builder,
    dir: staging,
    pip: pipPlan(resolved.inputs),
    cwd: job.cwd,
    env: job.env,
    reporter,
    signal: job.signal,
    reproducible: job.settings.format === 2 ? { prefix: PLACEHOLDER_PREFIX, mtime: LAYER_MTIME } : undefined,
    reuse: reuses(job) ? assembler({ ...job, inputs: resolved.inputs, python, stores: job.reuseFrom, root: staging }, assembled) : undefined,
  });
  if (bundled) await sealBundle(staging, bundled);
  return { python, bundled, outcome };
}

/**
 * Whether a miss may be assembled from stored layers: a format 2 build of an environment without a
 * carried interpreter, unless --no-assemble; a lock with plain requirement files on top is built in
 * full (pip resolves the plain files against the lock's installed packages).
 */
function reuses(job: BuildJob): boolean {
  const { inputs } = job.resolved;
  return (
    job.settings.assemble && job.settings.format === 2 && !job.resolved.portable && job.reuseFrom.length > 0 && !(inputs.locked && inputs.plainFiles.length)
  );
}

/** The mtime every file of a format 2 build is given before its bytecode is made: any fixed value does. */
const LAYER_MTIME = Date.UTC(2020, 0, 1);

/**
 * Packs the built environment into a file beside the target (format 1), or a folder of layer files
 * (format 2: a layer per distribution, its text files naming PLACEHOLDER_PREFIX in place of the build
 * path, so that the same distribution packs to the same bytes from any build).
 */
async function packForPublishing(
  job: BuildJob,
  scan: ScanResult,
  manifest: Manifest,
  bundled: Bundled | undefined,
  { installed, reuse }: BuildOutcome,
): Promise<LocalArchive> {
  const { reporter, staging } = job;
  const progress = { files: 0, bytes: 0 };
  const files = scan.entries.filter((entry) => entry.type === 'file');
  const total = files.reduce((sum, entry) => sum + entry.size, 0);
  const wrap = (stream: Readable) => job.signal && addAbortSignal(job.signal, stream);
  return reporter.during(
    'pack',
    async (phase) => {
      let saved: LocalArchive;
      if (job.settings.format === 2) {
        const claims = readClaims(staging, scan.entries);
        // The carried interpreter is a layer of its own, the same bytes in every key built with it.
        if (bundled) claims.push(interpreterClaim(bundled, scan));
        const planned = planLayers(scan.entries, claims);
        // What pip installed from wheels can be reused by the next miss (docs/layers.md); a carried interpreter's builds are not.
        const plans = installed && !bundled ? withProvenance(planned, installed, interpreterTag(platformOf(manifest.python)), scan.binary) : planned;
        const layered: Manifest = { ...manifest, prefix: PLACEHOLDER_PREFIX, buildPath: staging };
        const transform = makeRelocator({ text: manifest.text, binary: [], prefix: staging }, PLACEHOLDER_PREFIX, manifest.python);
        const stored = (plan: LayerPlan) => (reuse ? storedLayerFor(plan, claims, reuse.stored) : undefined);
        saved = await packLayers(staging, plans, layered, job.settings.codec, siblingPath(job.target, 'pack'), { progress, transform, wrap, stored });
      } else {
        const packed = packEnvironment(staging, scan.entries, manifest, compressor(job.settings.codec), progress);
        wrap(packed);
        saved = await saveArchive(packed, siblingPath(job.target, 'pack'), job.settings.codec, { unpackedSize: total, entries: scan.entries.length });
      }
      phase.done({ code: 'PACKED', entries: scan.entries.length, bytes: total, packed: saved.size, layers: saved.layers?.length, codec: job.settings.codec });
      return saved;
    },
    () => `${formatCount(progress.files, 'file')} of ${groupDigits(files.length)}, ${formatBytes(progress.bytes)} of ${formatBytes(total)}`,
  );
}

/**
 * An archive cannot carry what lies outside the environment (editable installs, .pth entries, symlinks
 * to absolute paths elsewhere): refused, or packed anyway with a warning (and restored only where
 * --allow-outside-paths is given too).
 */
async function checkOutsidePaths(root: string, key: string, links: Manifest['externalLinks'], allow: boolean, reporter: Reporter): Promise<void> {
  const outside = [...(await findOutsidePaths(root)), ...links.map((link) => ({ file: link.path, target: link.target, distribution: undefined, link: true }))];
  if (!outside.length) return;
  if (!allow) {
    throw new TerrariumError(
      'RELOCATE_OUTSIDE_PATHS',
      `cannot pack ${key}: ${outside.map(describeOutsidePath).join('; ')}: paths outside the environment (editable installs, .pth entries or symlinks) would not exist where it is restored`,
      {
        hint: 'install those packages without -e (or pass --no-upload to use the environment here only), or pass --allow-outside-paths to pack it anyway',
      },
    );
  }
  for (const o of outside) reporter.warn({ code: 'OUTSIDE_PATH_PACKED', key, outside: o });
}
