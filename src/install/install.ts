import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Manifest } from '../archive/manifest.js';
import { prestartTreeWriter } from '../archive/writer-thread.js';
import { smokeCheck, smokeCheckCarried } from '../env/smoke.js';
import { describeCause, isErrno, TerrariumError } from '../errors.js';
import { failpoint } from '../io/failpoint.js';
import { removeTree, siblingPath } from '../io/fs.js';
import { confirmKey, type ResolvedKey, resolveKey } from '../key/resolve.js';
import { describeInterpreter, type Fingerprint, platformOf } from '../python/fingerprint.js';
import { machineFacts } from '../python/libraries.js';
import { BUNDLE_DIR } from '../python/portable.js';
import { checkPrefixUsable } from '../relocate/rewrite.js';
import { isWritable, type Store } from '../stores/store.js';
import { type Exchanger, startExchanger } from '../target/exchange.js';
import { checkTarget, swapIn } from '../target/swap.js';
import { lockTarget } from '../target/target-lock.js';
import type { Assembled } from './assemble/assemble.js';
import { buildAndPublish, publishTargets } from './build-and-publish.js';
import { awaitTurn, endLease, type Waited } from './build-lease.js';
import { describeStores, lookupOrder } from './configure-stores.js';
import { recordInstalled } from './installed-state.js';
import { describeNearest, findNearest, type Nearest } from './nearest.js';
import type { Publication } from './publish.js';
import type { Restored, RestoreJob } from './read/read-job.js';
import { restoreFromStores } from './restore.js';
import type { InstallOptions } from './settings.js';
import { findUnchanged, keepsBackup } from './unchanged.js';

/** Where the installed environment came from. */
export type InstallOutcome =
  | Restored
  /** `assembled`: the miss reused stored layers (install/assemble), pip installed the rest. */
  | { kind: 'built'; published: Publication[]; bytes: number; assembled: Assembled | undefined }
  | { kind: 'unchanged' };

export interface InstallResult {
  key: string;
  target: string;
  outcome: InstallOutcome;
  /** On a miss, the stored environment closest to this one and what differs. */
  nearest: Nearest | undefined;
  /** When another runner was building this key: how long this run waited for it. */
  waited?: Waited | undefined;
  /** Stores that could not be reached, passed over (and on a build, not published to). */
  unreachable: string[];
  /** The environment carries its interpreter (--portable). */
  portable: boolean;
  /** The interpreter it runs on, as `cpython-3.12.1`: the one it carries, or the one it was made for. */
  interpreter: string;
  /** The backup `revert` goes back to: the environment this one replaced, or an earlier one kept (keptBackup); undefined when there is none. */
  backup: string | undefined;
  /** The backup already there was kept: this install replaced a copy of the same key (discarded). */
  keptBackup: boolean;
  seconds: number;
}

/** The whole job: find or build the environment for these requirements and put it at the target. */
export async function install(options: InstallOptions): Promise<InstallResult> {
  const started = performance.now();
  const { reporter, signal } = options;
  // Restoring or linking writes the tree on a thread of its own; its start-up overlaps the key and the lookup.
  if (options.download) prestartTreeWriter();
  const target = path.resolve(options.cwd, options.target);
  checkPrefixUsable(target);
  let resolved = await computeKey(options);
  await fs.mkdir(path.dirname(target), { recursive: true }).catch((error: unknown) => {
    throw new TerrariumError('TARGET_UNWRITABLE', `cannot create ${path.dirname(target)}: ${describeCause(error)}`, {
      hint: 'choose a --target whose parent directory you can write to',
    });
  });
  try {
    const lock = await lockTarget(target, {
      command: 'install',
      lockTimeoutSeconds: options.lockTimeoutSeconds,
      backupSuffix: options.backupSuffix,
      signal,
      reporter,
    });
    failpoint('install-locked');
    try {
      const replacing = await checkTarget(target, options.force);
      const unchanged = replacing && options.download && !options.reinstall ? await findUnchanged(target, resolved, options) : undefined;
      if (unchanged) {
        const seconds = (performance.now() - started) / 1000;
        const outcome = { kind: 'unchanged' } as const;
        return { key: resolved.key, target, outcome, ...runsOn(unchanged), nearest: undefined, unreachable: [], backup: undefined, keptBackup: false, seconds };
      }
      const staging = siblingPath(target, 'staging');
      // The helper that will exchange staging and target starts its Python beside the smoke check's.
      let exchanger: Exchanger | undefined;
      // What the environment in staging is, once checked: what the result says of its interpreter.
      let checked: Manifest | undefined;
      const check = async (dir: string, manifest: Manifest) => {
        checked = manifest;
        if (replacing) exchanger ??= startExchanger(manifest.portable ? carriedExchanger(dir) : resolved.python!.executable);
        if (manifest.portable) await smokeCheckCarried(dir, target, options.env, manifest);
        else await smokeCheck(dir, options.env, resolved.python!.version);
      };
      try {
        let staged: Awaited<ReturnType<typeof prepareStaging>> | undefined;
        // Facts the cache remembered that prove stale restart the staging under the key true facts give.
        while (!staged) {
          staged = await prepareStaging(options, resolved, staging, target, check).catch((error: unknown) => {
            if (!(error instanceof StaleFacts)) throw asStagingError(error, target);
            reporter.warn({ code: 'FACTS_STALE', executable: resolved.python!.executable, key: resolved.key, fresh: error.fresh.key });
            resolved = error.fresh;
            return undefined;
          });
        }
        const { outcome, nearest, waited } = staged;
        const unreachable = (staged.unreachable ?? []).map((store) => store.description);
        const manifest = checked!;
        try {
          failpoint('install-staged');
          signal?.throwIfAborted();
        } catch (error) {
          await exchanger?.close();
          throw error;
        }
        const backupPath = options.backupSuffix === undefined ? undefined : target + options.backupSuffix;
        const keptBackup = replacing && backupPath !== undefined && (await keepsBackup(target, backupPath, resolved.key));
        if (keptBackup) reporter.info({ code: 'BACKUP_KEPT', backup: backupPath, key: resolved.key });
        await recordInstalled(staging, installedBy(outcome, resolved.key, options));
        // Checked in staging, not again in place: a rename changes no byte, and sys.prefix follows
        // the interpreter's location, so the same check there could only cost another Python start.
        // A later run undoes an exchange with the interpreter of the environment then at the target.
        const swapPython = resolved.portable ? carriedExchanger(target) : resolved.python!.executable;
        const swap = await swapIn(staging, target, keptBackup ? undefined : backupPath, swapPython, exchanger, () => lock.assertHeld());
        await swap.commit();
        const backup = replacing ? backupPath : undefined;
        const seconds = (performance.now() - started) / 1000;
        return { key: resolved.key, target, outcome, ...runsOn(manifest), nearest, waited, unreachable, backup, keptBackup, seconds };
      } catch (error) {
        await exchanger?.close();
        // After a commit there is no staging left here (without a backup, the old environment under
        // that name is being removed in the background).
        await removeTree(staging);
        throw error;
      }
    } finally {
      await lock.release();
    }
  } catch (error) {
    throw signal?.aborted ? signal.reason : error;
  }
}

/** What the installed environment runs on: the interpreter it carries, or the one it was made for. */
function runsOn(manifest: Manifest): Pick<InstallResult, 'portable' | 'interpreter'> {
  const interpreter = manifest.portable?.interpreter ?? `${manifest.python.implementation}-${manifest.python.version.join('.')}`;
  return { portable: Boolean(manifest.portable), interpreter };
}

/** What the next install of this key compares the environment in staging with. */
function installedBy(outcome: InstallOutcome, key: string, options: InstallOptions) {
  // With a link mode, files may be hard links into the cache, whether linked from its unpacked copy or kept there after a restore.
  const hardlinked = outcome.kind !== 'built' && options.restore.link !== undefined;
  return { key, hardlinked, built: outcome.kind === 'built', trusted: options.trusted.map((trusted) => trusted.id) };
}

/** The key for these requirements and this interpreter, as a phase. */
function computeKey(options: InstallOptions): Promise<ResolvedKey> {
  const { reporter } = options;
  return reporter.during('key', async (phase) => {
    const key = await resolveKey(options);
    if (key.python) reporter.detail({ code: 'INTERPRETER', executable: key.python.executable });
    const interpreter = key.python ? describeInterpreter(key.python) : `Python ${options.python}, not installed here`;
    phase.done({ code: 'KEY_COMPUTED', key: key.key, interpreter: key.portable ? `${interpreter}, carried` : interpreter });
    return key;
  });
}

/** The interpreter's facts, remembered by the cache, were not true: the run starts again with the key they name. */
class StaleFacts extends Error {
  constructor(readonly fresh: ResolvedKey) {
    super(`interpreter facts changed: ${fresh.key}`);
  }
}

/** Throws StaleFacts when the cache's facts about the interpreter were not true. */
async function confirmFacts(options: InstallOptions, resolved: ResolvedKey): Promise<void> {
  const fresh = await confirmKey(options, resolved);
  if (fresh) throw new StaleFacts(fresh);
}

/** What staging holds, and how it came: restored, or built after a miss (with the nearest stored environment, and any wait for another runner). */
type Staged = { outcome: InstallOutcome; nearest?: Nearest | undefined; waited?: Waited | undefined; unreachable?: Store[] | undefined };

/** Restores or builds the new environment in `staging`, relocated for `target` and checked by `check`. */
async function prepareStaging(
  options: InstallOptions,
  resolved: ResolvedKey,
  staging: string,
  target: string,
  check: (dir: string, manifest: Manifest) => Promise<void>,
): Promise<Staged> {
  const restoreJob: RestoreJob = {
    key: resolved.key,
    python: resolved.python,
    carried: resolved.portable ? await machineFacts(options.env) : undefined,
    staging,
    target,
    stores: lookupOrder(options),
    local: options.local,
    settings: options.restore,
    trusted: options.trusted,
    check,
    confirm: () => confirmFacts(options, resolved),
    unreachable: new Set<Store>(),
    linksOutside: new Set<Store>(),
    signal: options.signal,
    reporter: options.reporter,
  };
  const restored = options.download ? await restoreFromStores(restoreJob) : undefined;
  if (restored) {
    failpoint('install-restored');
    return { outcome: restored, unreachable: [...restoreJob.unreachable] };
  }
  return stageMiss(options, resolved, restoreJob);
}

/**
 * A miss: said with the nearest stored environment, an error under --require-download, else another
 * runner's build awaited (its archive restored) or this one's built, published and checked in staging.
 */
async function stageMiss(options: InstallOptions, resolved: ResolvedKey, restoreJob: RestoreJob): Promise<Staged> {
  const { reporter, signal } = options;
  const { stores: searched, unreachable } = restoreJob;
  // Remembered facts decide nothing past here: a miss may build, and a build publishes under this key.
  await confirmFacts(options, resolved);
  const reachable = searched.filter((store) => !unreachable.has(store));
  const nearest = options.download ? await findNearest(reachable, resolved, reporter, signal) : undefined;
  if (options.restore.requireDownload) {
    throw new TerrariumError(
      'ARCHIVE_REQUIRED',
      `no archive for ${resolved.key} in ${describeStores(searched)}${nearest ? `; ${describeNearest(nearest)}` : ''}`,
      {
        hint: 'run once without --require-download (or with --no-download) to build and publish it',
      },
    );
  }
  if (nearest) reporter.info({ code: 'MISS_NEAREST', nearest: describeNearest(nearest) });
  signal?.throwIfAborted();
  const publishTo = options.upload ? searched.filter(isWritable).filter((store) => !unreachable.has(store)) : [];
  // What the cache keeps is not a publication: no other runner reads it.
  const cache = options.local?.archivesFor(options.stores);
  // Runners that miss one key at once agree, in the first shared store this build publishes to, on which of them builds it.
  const shared = options.download ? publishTargets({ ...options, publishTo }).find((store) => store !== cache) : undefined;
  const local = buildable(resolved, options);
  const turn = shared
    ? await awaitTurn({ key: resolved.key, platform: platformOf(local), store: shared, buildWaitSeconds: options.buildWaitSeconds, signal, reporter })
    : undefined;
  if (turn?.kind === 'published') {
    const theirs = await restoreFromStores({ ...restoreJob, stores: [shared!] });
    if (theirs) return { outcome: theirs, nearest, waited: turn.waited, unreachable: [...unreachable] };
  }
  const lease = turn?.kind === 'build' ? turn.lease : undefined;
  const { staging, target, linksOutside } = restoreJob;
  const { published, bytes, manifest, assembled } = await buildAndPublish({
    resolved,
    python: local,
    staging,
    target,
    cwd: options.cwd,
    env: options.env,
    settings: options.build,
    publishTo,
    // An archive passed over for linking outside blocks every publication of this key: one built without such links replaces it.
    heal: !options.download || linksOutside.size > 0,
    reuseFrom: options.download ? reachable : [],
    cache: options.local?.archives,
    signingKey: options.signingKey,
    trusted: options.trusted,
    signal,
    reporter,
  }).catch(async (error: unknown) => {
    await endLease(lease, error, signal);
    throw error;
  });
  await endLease(lease, undefined, signal);
  await restoreJob.check(staging, manifest);
  return {
    outcome: { kind: 'built', published: published.filter((p) => p.store !== cache), bytes, assembled },
    nearest,
    waited: turn?.waited,
    unreachable: [...unreachable],
  };
}

/** The interpreter a miss builds with: a portable key restores without it, but builds only where it is installed. */
function buildable(resolved: ResolvedKey, options: InstallOptions): Fingerprint {
  if (resolved.python) return resolved.python;
  throw new TerrariumError('PYTHON_NOT_FOUND', `no stored environment for ${resolved.key}, and Python ${options.python} is not installed here to build it`, {
    hint: 'build it once where that Python is installed (pyenv install, or uv python install) and publish it to a store this machine reads',
  });
}

/** The carried interpreter that runs the atomic exchange for a portable environment at `dir`. */
const carriedExchanger = (dir: string) => path.join(dir, BUNDLE_DIR, 'bin', 'python3');

/** File system failures while the new environment is written: the old one is untouched, say so. */
function asStagingError(error: unknown, target: string): unknown {
  if (isErrno(error, 'ENOSPC', 'EDQUOT')) {
    return new TerrariumError(
      'TARGET_NO_SPACE',
      `no space left on the device of ${path.dirname(target)} for the new environment; ${target} was left as it was`,
      {
        hint: 'free some space there (or choose a --target on another disk) and run again',
        cause: error,
      },
    );
  }
  if (isErrno(error, 'EACCES', 'EPERM', 'EROFS')) {
    return new TerrariumError('TARGET_UNWRITABLE', `cannot write the new environment beside ${target}: ${describeCause(error)}`, {
      hint: `check that you can write to ${path.dirname(target)}`,
      cause: error,
    });
  }
  return error;
}
