import path from 'node:path';
import { TerrariumError } from '../errors.js';

/**
 * What lives where under the cache directory. The directory's default name ends in the layout's
 * version (`terrarium/v1`): a layout that changes incompatibly gets a new one, and never reads the old.
 * Each part versions its own files as well (records, the unpacked index's `format`).
 */
export const CACHE_LAYOUT = {
  /** Downloaded archives with their records and signatures, named as in a storage directory. */
  archives: '.',
  /** Unpacked copies for link mode: the index of each key's copy, `KEY.json`. */
  unpacked: 'unpacked',
  /** The unpacked trees those copies are made of, shared by digest: `HEX/` and its index `HEX.json`. */
  trees: 'trees',
  /** Interpreter fingerprints by binary, with the stamps that tell when they are stale. */
  interpreters: 'interpreters.json',
} as const;

export function cachePath(cacheDir: string, part: keyof typeof CACHE_LAYOUT): string {
  return path.join(cacheDir, CACHE_LAYOUT[part]);
}

/** `$XDG_CACHE_HOME/terrarium/v1`, else `~/.cache/terrarium/v1`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  const base = env.XDG_CACHE_HOME || (env.HOME ? path.join(env.HOME, '.cache') : undefined);
  return base ? path.join(base, 'terrarium', 'v1') : undefined;
}

export function cacheDirFrom(option: string | undefined, enabled: boolean, cwd: string, env: NodeJS.ProcessEnv): string | undefined {
  if (!enabled) return undefined;
  return option ? path.resolve(cwd, option) : defaultCacheDir(env);
}

/** A layer or unpacked tree from the cache turned out damaged: it was dropped there, and the restore is worth trying again without the cache. */
export class DamagedInCache extends TerrariumError {}
