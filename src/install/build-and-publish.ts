import { promises as fs } from 'node:fs';
import { addAbortSignal } from 'node:stream';
import type { Codec } from '../archive/codec-names.js';
import { compressor } from '../archive/codecs.js';
import { packEnvironment } from '../archive/create.js';
import { saveArchive } from '../archive/save.js';
import { writeBootstrap } from '../env/bootstrap.js';
import { buildEnvironment, type Builder } from '../env/build.js';
import { findOutsidePaths } from '../env/outside-paths.js';
import { TerrariumError, describeCause } from '../errors.js';
import { failpoint } from '../io/failpoint.js';
import { siblingPath } from '../io/fs.js';
import { relocateInPlace } from '../relocate/apply.js';
import { MANIFEST_FORMAT, type Manifest } from '../relocate/manifest.js';
import { scanEnvironment } from '../relocate/scan.js';
import { formatBytes, formatCount, formatTransfer, groupDigits } from '../report/format.js';
import type { Reporter } from '../report/reporter.js';
import type { Store } from '../stores/store.js';
import { TOOL_VERSION } from '../version.js';
import type { ResolvedKey } from './key.js';

export interface BuildJob {
  resolved: ResolvedKey;
  requirementFiles: string[];
  staging: string;
  target: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  bootstrap: boolean;
  builder: Builder | undefined;
  /** Pack environments whose .pth files or editable installs name paths outside them (with a warning). */
  allowOutsidePaths: boolean;
  codec: Codec;
  /** Where a new archive goes (empty: nowhere, as with --no-upload). */
  publishTo: Store[];
  signal: AbortSignal | undefined;
  reporter: Reporter;
}

/**
 * Builds the environment in staging (venv + pip), packs it once into a file beside staging and
 * publishes that file to every store; a store that fails is a warning, never a failed install.
 * Returns the stores that now hold the archive.
 */
export async function buildAndPublish(job: BuildJob): Promise<string[]> {
  const { reporter, resolved, staging } = job;
  reporter.info(`building ${resolved.key} with ${resolved.python.executable} (no archive found)`);
  await buildEnvironment({ python: resolved.python, builder: job.builder, dir: staging, requirementFiles: job.requirementFiles, cwd: job.cwd, env: job.env, reporter, signal: job.signal });
  failpoint('install-built');
  if (job.bootstrap) await writeBootstrap(staging, resolved.requirements);
  const scan = scanEnvironment(staging, resolved.python.executable);
  for (const file of scan.binary) reporter.warn(`${file} names the build path in binary data: rewritten on restore where the new path is not longer than ${staging.length} bytes, left as it is elsewhere (terrarium doctor lists it then)`);
  for (const link of scan.externalLinks) reporter.detail(`${link.path} links outside the environment, to ${link.target}`);
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    tool: TOOL_VERSION,
    created: new Date().toISOString(),
    key: resolved.key,
    prefix: staging,
    python: resolved.python,
    requirements: resolved.requirements.lines,
    text: scan.text,
    binary: scan.binary,
    interpreterLinks: scan.interpreterLinks,
    externalLinks: scan.externalLinks,
  };
  const published: string[] = [];
  if (job.publishTo.length) {
    await checkOutsidePaths(staging, resolved.key, job.allowOutsidePaths, reporter);
    const progress = { files: 0, bytes: 0 };
    const files = scan.entries.filter((entry) => entry.type === 'file');
    const total = files.reduce((sum, entry) => sum + entry.size, 0);
    const packPhase = reporter.phase('pack', () => `${formatCount(progress.files, 'file')} of ${groupDigits(files.length)}, ${formatBytes(progress.bytes)} of ${formatBytes(total)}`);
    const packed = packEnvironment(staging, scan.entries, manifest, compressor(job.codec), progress);
    if (job.signal) addAbortSignal(job.signal, packed);
    const archive = await saveArchive(packed, siblingPath(job.target, 'pack'), job.codec).catch((error: unknown) => {
      packPhase.end();
      throw error;
    });
    packPhase.done(`${formatCount(scan.entries.length, 'entry', 'entries')}, ${formatBytes(total)} -> ${formatBytes(archive.size)} (${job.codec})`);
    try {
      for (const store of job.publishTo) {
        const sent = { bytes: 0 };
        const started = Date.now();
        const phase = reporter.phase(`publish to ${store.description}`, () => formatTransfer(sent.bytes, archive.size, Date.now() - started));
        try {
          const result = await store.publish(resolved.key, archive, TOOL_VERSION, sent);
          phase.done(result.published ? `${formatBytes(result.record.size)}` : 'another run published it first');
          published.push(store.description);
        } catch (error) {
          phase.end();
          job.signal?.throwIfAborted();
          reporter.warn(`could not publish ${resolved.key} to ${store.description}: ${describeCause(error)}`);
        }
      }
    } finally {
      await fs.rm(archive.path, { force: true });
    }
  }
  await relocateInPlace(staging, manifest, job.target, resolved.python);
  return published;
}

/** An archive cannot carry what lies outside the environment: refused, or packed anyway with a warning. */
async function checkOutsidePaths(root: string, key: string, allow: boolean, reporter: Reporter): Promise<void> {
  const outside = await findOutsidePaths(root);
  if (!outside.length) return;
  const describe = (o: (typeof outside)[number]) => `${o.distribution ?? 'an unknown package'} (${o.file} names ${o.target})`;
  if (!allow) {
    throw new TerrariumError('RELOCATE_OUTSIDE_PATHS', `cannot pack ${key}: ${outside.map(describe).join('; ')}: paths outside the environment (editable installs or .pth entries) would not exist where it is restored`, {
      hint: 'install those packages without -e (or pass --no-upload to use the environment here only), or pass --allow-outside-paths to pack it anyway',
    });
  }
  for (const o of outside) reporter.warn(`packing ${key} although ${describe(o)}: that path must exist wherever the archive is restored`);
}
