import path from 'node:path';

/** `$XDG_CACHE_HOME/terrarium/v1`, else `~/.cache/terrarium/v1` (the `v1` is the layout's version). */
export function defaultCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  const base = env.XDG_CACHE_HOME || (env.HOME ? path.join(env.HOME, '.cache') : undefined);
  return base ? path.join(base, 'terrarium', 'v1') : undefined;
}

export function cacheDirFrom(option: string | undefined, enabled: boolean, cwd: string, env: NodeJS.ProcessEnv): string | undefined {
  if (!enabled) return undefined;
  return option ? path.resolve(cwd, option) : defaultCacheDir(env);
}
