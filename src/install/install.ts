import { promises as fs } from 'node:fs';
import path from 'node:path';
import { addAbortSignal } from 'node:stream';
import { ChecksumStream } from '../archive/checksum.js';
import { compressor, decompressor, type Codec } from '../archive/codecs.js';
import { packEnvironment } from '../archive/create.js';
import { extractEnvironment } from '../archive/extract.js';
import { writeBootstrap } from '../env/bootstrap.js';
import { buildEnvironment } from '../env/build.js';
import { smokeCheck } from '../env/smoke.js';
import { TerrariumError, describeCause, isErrno } from '../errors.js';
import { failpoint } from '../io/failpoint.js';
import { removeTree, siblingPath } from '../io/fs.js';
import { describeInterpreter, incompatibility, type Fingerprint } from '../python/fingerprint.js';
import { finishRelocation, relocateInPlace } from '../relocate/apply.js';
import { MANIFEST_FORMAT, type Manifest } from '../relocate/manifest.js';
import { makeRelocator } from '../relocate/relocator.js';
import { checkPrefixUsable } from '../relocate/rewrite.js';
import { scanEnvironment } from '../relocate/scan.js';
import type { Reporter } from '../report/reporter.js';
import type { ArchiveRecord, Store } from '../stores/store.js';
import { TOOL_VERSION } from '../version.js';
import { resolveKey, type KeyOptions, type ResolvedKey } from './key.js';
import { checkTarget, swapIn } from './swap.js';
import { lockTarget } from './target-lock.js';

export interface InstallOptions extends KeyOptions {
  target: string;
  stores: Store[];
  download: boolean;
  upload: boolean;
  requireDownload: boolean;
  /** Suffix of the backup directory, or undefined for no backup. */
  backupSuffix: string | undefined;
  bootstrap: boolean;
  force: boolean;
  codec: Codec;
  /** How long to wait for another run working on the same target. */
  lockTimeoutSeconds: number;
  /** Aborted on SIGINT/SIGTERM: the run stops at the next safe point, cleans up and throws the reason. */
  signal?: AbortSignal | undefined;
  reporter: Reporter;
}

export interface InstallResult {
  key: string;
  target: string;
  /** Where the environment came from: the store it was restored from, or 'build'. */
  source: string;
  published: string[];
  seconds: number;
}

/** The whole job: find or build the environment for these requirements and put it at the target. */
export async function install(options: InstallOptions): Promise<InstallResult> {
  const started = performance.now();
  const { reporter, signal } = options;
  const target = path.resolve(options.cwd, options.target);
  checkPrefixUsable(target);
  const resolved = await resolveKey(options);
  reporter.detail(`key ${resolved.key} (interpreter ${resolved.python.executable}, ${describeInterpreter(resolved.python)})`);
  await fs.mkdir(path.dirname(target), { recursive: true }).catch((error: unknown) => {
    throw new TerrariumError('TARGET_UNWRITABLE', `cannot create ${path.dirname(target)}: ${describeCause(error)}`, {
      hint: 'choose a --target whose parent directory you can write to',
    });
  });
  try {
    const lock = await lockTarget(target, { command: 'install', lockTimeoutSeconds: options.lockTimeoutSeconds, backupSuffix: options.backupSuffix, signal, reporter });
    failpoint('install-locked');
    try {
      await checkTarget(target, options.force);
      const staging = siblingPath(target, 'staging');
      try {
        const { source, published } = await prepareStaging(options, resolved, staging, target).catch((error: unknown) => {
          throw asStagingError(error, target);
        });
        await smokeCheck(staging, staging, options.env);
        failpoint('install-staged');
        signal?.throwIfAborted();
        const backup = options.backupSuffix === undefined ? undefined : target + options.backupSuffix;
        const swap = await swapIn(staging, target, backup, resolved.python.executable);
        try {
          await smokeCheck(target, target, options.env);
          failpoint('install-checked');
        } catch (error) {
          await swap.rollback();
          throw error;
        }
        await swap.commit();
        return { key: resolved.key, target, source, published, seconds: (performance.now() - started) / 1000 };
      } finally {
        await removeTree(staging);
      }
    } finally {
      await lock.release();
    }
  } catch (error) {
    throw signal?.aborted ? signal.reason : error;
  }
}

/** Restores or builds the new environment in `staging`, relocated for `target`. */
async function prepareStaging(options: InstallOptions, resolved: ResolvedKey, staging: string, target: string): Promise<{ source: string; published: string[] }> {
  const source = options.download ? await restoreFromStores(options, resolved, staging, target) : undefined;
  if (source) return { source, published: [] };
  if (options.requireDownload) {
    throw new TerrariumError('ARCHIVE_REQUIRED', `no archive for ${resolved.key} in ${describeStores(options.stores)}`, {
      hint: 'run once without --require-download (or with --no-download) to build and publish it',
    });
  }
  options.signal?.throwIfAborted();
  return { source: 'build', published: await buildAndPublish(options, resolved, staging, target) };
}

/** File system failures while the new environment is written: the old one is untouched, say so. */
function asStagingError(error: unknown, target: string): unknown {
  if (isErrno(error, 'ENOSPC', 'EDQUOT')) {
    return new TerrariumError('TARGET_NO_SPACE', `no space left on the device of ${path.dirname(target)} for the new environment; ${target} was left as it was`, {
      hint: 'free some space there (or choose a --target on another disk) and run again',
      cause: error,
    });
  }
  if (isErrno(error, 'EACCES', 'EPERM', 'EROFS')) {
    return new TerrariumError('TARGET_UNWRITABLE', `cannot write the new environment beside ${target}: ${describeCause(error)}`, {
      hint: `check that you can write to ${path.dirname(target)}`,
      cause: error,
    });
  }
  return error;
}

const UNUSABLE = new Set(['ARCHIVE_CORRUPT', 'ARCHIVE_HOSTILE', 'ARCHIVE_UNSUPPORTED']);

function describeStores(stores: Store[]): string {
  return stores.length ? stores.map((s) => s.description).join(', ') : 'any store (none configured: pass --storage-dir)';
}

async function restoreFromStores(options: InstallOptions, resolved: ResolvedKey, staging: string, target: string): Promise<string | undefined> {
  for (const store of options.stores) {
    const record = await store.lookup(resolved.key);
    options.reporter.detail(`${store.description}: ${record ? `found ${resolved.key} (${record.size} bytes)` : `no ${resolved.key}`}`);
    if (!record) continue;
    try {
      await restore(store, record, resolved.python, staging, target, options.signal);
      failpoint('install-restored');
      return store.description;
    } catch (error) {
      await removeTree(staging);
      options.signal?.throwIfAborted();
      if (!(error instanceof TerrariumError) || !UNUSABLE.has(error.code)) throw error;
      let why = `${store.description}: archive ${resolved.key} is unusable: ${error.message}`;
      if (error.code !== 'ARCHIVE_UNSUPPORTED') {
        // Damaged or tampered with: left in place, it would be served again and block a good one's publication.
        why += await store.discard(record).then(
          () => ' (removed from the store)',
          (cause: unknown) => ` (could not remove it: ${describeCause(cause)})`,
        );
      }
      if (options.requireDownload) throw new TerrariumError(error.code, why, { hint: error.hint, cause: error });
      options.reporter.warn(`${why}; building instead`);
    }
  }
  return undefined;
}

async function restore(store: Store, record: ArchiveRecord, python: Fingerprint, staging: string, target: string, signal: AbortSignal | undefined): Promise<void> {
  await fs.mkdir(staging, { mode: 0o755 });
  const checksum = new ChecksumStream();
  const download = await store.open(record);
  if (signal) addAbortSignal(signal, download);
  const { manifest } = await extractEnvironment([download, checksum, decompressor(record.codec)], staging, (manifest) => {
    const mismatch = incompatibility(manifest.python, python);
    if (mismatch) {
      throw new TerrariumError('PYTHON_INCOMPATIBLE', `archive ${record.key} was built for ${describeInterpreter(manifest.python)}, which cannot run on ${python.executable}: ${mismatch}`, {
        hint: 'pass a matching interpreter with --python, or build for this one with --no-download',
      });
    }
    return makeRelocator(manifest, target, python);
  });
  if (checksum.hex() !== record.sha256) {
    throw new TerrariumError('ARCHIVE_CORRUPT', `its bytes do not match the sha256 recorded for them`, {
      hint: 'the stored copy is damaged; run without --require-download to rebuild and republish it',
    });
  }
  await finishRelocation(staging, manifest, target, python);
}

async function buildAndPublish(options: InstallOptions, resolved: ResolvedKey, staging: string, target: string): Promise<string[]> {
  const { reporter } = options;
  reporter.info(`building ${resolved.key} with ${resolved.python.executable} (no archive found)`);
  await buildEnvironment({ python: resolved.python, dir: staging, requirementFiles: options.requirementFiles, cwd: options.cwd, env: options.env, reporter, signal: options.signal });
  failpoint('install-built');
  if (options.bootstrap) await writeBootstrap(staging, resolved.requirements);
  const scan = await scanEnvironment(staging, resolved.python.executable);
  for (const file of scan.binary) reporter.warn(`${file} names the build path in binary data; it is left unchanged on restore`);
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
  if (options.upload) {
    for (const store of options.stores) {
      try {
        const archive = packEnvironment(staging, scan.entries, manifest, compressor(options.codec));
        if (options.signal) addAbortSignal(options.signal, archive);
        const result = await store.publish(resolved.key, options.codec, archive, TOOL_VERSION);
        reporter.detail(`${store.description}: ${result.published ? 'published' : 'already had'} ${resolved.key} (${result.record.size} bytes)`);
        published.push(store.description);
      } catch (error) {
        options.signal?.throwIfAborted();
        reporter.warn(`could not publish ${resolved.key} to ${store.description}: ${describeCause(error)}`);
      }
    }
  }
  await relocateInPlace(staging, manifest, target, resolved.python);
  return published;
}
