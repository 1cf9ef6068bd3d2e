import type { Codec } from '../../archive/codec-names.js';
import { type ExtractResult, extractLayers } from '../../archive/extract.js';
import type { Manifest } from '../../archive/manifest.js';
import type { Part, UnpackLimits } from '../../archive/parts.js';
import type { TreeProgress } from '../../archive/writer-protocol.js';
import type { LinkMethod } from '../../io/file-ops.js';
import type { Fingerprint } from '../../python/fingerprint.js';
import { carriedPython } from '../../python/portable.js';
import { makeRelocator, type Relocator } from '../../relocate/relocator.js';
import { acceptManifest } from '../../stores/acceptance.js';
import type { ArchiveRecord } from '../../stores/store.js';
import type { RestoreJob } from './read-job.js';
import { finishRelocation } from './relocation.js';

/**
 * How an archive built elsewhere is moved here; refused (before anything is unpacked) when an install
 * here would not take it (stores/acceptance.ts).
 */
function relocatorFor(manifest: Manifest, job: RestoreJob, record?: ArchiveRecord): Relocator {
  const optional = acceptManifest(manifest, record, {
    key: job.key,
    python: job.python,
    carried: job.carried,
    allowOutsidePaths: job.settings.allowOutsidePaths,
  });
  for (const { library, modules } of optional) job.reporter.warn({ code: 'CARRIED_LIBRARY_MISSING', library, modules });
  return makeRelocator(manifest, job.target, interpreterFor(job, manifest));
}

/** The interpreter the environment runs on where it is going: the one it carries, or this machine's. */
const interpreterFor = (job: RestoreJob, manifest: Manifest): Fingerprint => (manifest.portable ? carriedPython(manifest.python, job.target) : job.python!);

export interface WriteOptions {
  codec: Codec;
  /** The record the parts are read for (its platform is held to the manifest's); none for a copy in the cache. */
  record?: ArchiveRecord | undefined;
  method?: LinkMethod | undefined;
  progress: TreeProgress;
  limits?: UnpackLimits | undefined;
}

/**
 * Step two of reading an environment: every entry of the parts checked and written into staging, the
 * files that name the build path rewritten on the way, once the manifest says the archive is one an
 * install here takes.
 */
export function writeEntries(job: RestoreJob, parts: [Part, ...Part[]], options: WriteOptions): Promise<ExtractResult> {
  return extractLayers(parts, options.codec, job.staging, (manifest) => relocatorFor(manifest, job, options.record), {
    method: options.method,
    progress: options.progress,
    limits: options.limits,
  });
}

/** Step three: the links and manifest that name this place, then the smoke check of the whole. */
export async function relocateStaged(job: RestoreJob, manifest: Manifest): Promise<void> {
  await finishRelocation(job.staging, manifest, job.target, interpreterFor(job, manifest));
  await job.check(job.staging, manifest);
}
