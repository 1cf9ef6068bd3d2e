import { type Manifest, readEnvironmentManifest } from '../archive/manifest.js';
import { smokeCheck } from '../env/smoke.js';
import { pathKind } from '../io/fs.js';
import { confirmKey, type ResolvedKey } from '../key/resolve.js';
import { installedKey, readInstalledState, STATE_PATH, staleReason, stampTree } from './installed-state.js';
import type { InstallOptions } from './settings.js';

/**
 * The target's manifest when the target already is this key's environment as an earlier install left
 * it (checked: its files' stamp, the link mode and trust it was installed under, and its python run
 * once), so that this install has nothing to do; else undefined, with the reason said under -V.
 */
export async function findUnchanged(target: string, resolved: ResolvedKey, options: InstallOptions): Promise<Manifest | undefined> {
  const state = readInstalledState(target);
  const wanted = { key: resolved.key, linking: options.restore.link !== undefined, trusted: options.trusted.map((key) => key.id) };
  // The walk costs a tenth of a second per 10,000 files: only a target that holds this key is worth it.
  const stamp = state?.key === resolved.key ? stampTree(target, state.hardlinked) : undefined;
  let reason = staleReason(state, stamp, wanted);
  const manifest = reason ? undefined : readEnvironmentManifest(target);
  if (!reason && !manifest) reason = `${STATE_PATH} names no readable manifest`;
  if (manifest) {
    // Its pyvenv.cfg already names the carried interpreter in place: the plain check fits both kinds.
    const [fresh, broken] = await Promise.all([
      confirmKey(options, resolved),
      smokeCheck(target, options.env, manifest.python.version, manifest.portable?.modules ?? []).then(
        () => undefined,
        (error: Error) => error.message,
      ),
    ]);
    reason = fresh ? "the cache's facts about the interpreter were not true" : broken;
  }
  if (!reason) return manifest;
  options.reporter.detail({ code: 'REINSTALLING', target, key: resolved.key, reason });
  return undefined;
}

/**
 * Whether a reinstall of the key the target holds keeps the backup as it is rather than replacing it
 * with the old copy of that same key: a backup of another environment is what `revert` goes back to,
 * and may be the only copy of it.
 */
export async function keepsBackup(target: string, backup: string, key: string): Promise<boolean> {
  if (installedKey(target) !== key) return false;
  return (await pathKind(backup)) === 'directory' && installedKey(backup) !== key;
}
