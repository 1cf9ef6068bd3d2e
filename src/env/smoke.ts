import { promises as fs } from 'node:fs';
import path from 'node:path';
import { TerrariumError, describeCause } from '../errors.js';
import { run } from '../io/exec.js';

const PROBE =
  'import json, sys; print(json.dumps([sys.prefix, getattr(sys, "base_prefix", getattr(sys, "real_prefix", sys.prefix)), list(sys.version_info[:2])]))';

export interface EnvironmentProbe {
  prefix: string;
  basePrefix: string;
  version: [number, number];
  /** sys.prefix is this environment (symlinks resolved). */
  seesItself: boolean;
}

/** Runs the environment's own python once and reports how it sees itself; throws with the reason when it cannot run. */
export async function probeEnvironment(root: string, env: NodeJS.ProcessEnv): Promise<EnvironmentProbe> {
  let result;
  try {
    result = await run(path.join(root, 'bin', 'python'), ['-E', '-s', '-c', PROBE], { env: { ...env, VIRTUAL_ENV: '' } });
  } catch (error) {
    throw new Error(`cannot run bin/python: ${describeCause(error)}`);
  }
  if (result.code !== 0) throw new Error(`bin/python exited ${result.code}: ${result.stderr.trim().split('\n').pop() ?? ''}`);
  const [prefix, basePrefix, version] = JSON.parse(result.stdout.trim()) as [string, string, [number, number]];
  const [realPrefix, realRoot] = await Promise.all([fs.realpath(prefix), fs.realpath(root)]);
  return { prefix, basePrefix, version, seesItself: realPrefix === realRoot };
}

/**
 * Checks that the environment's own python sees itself as a virtual environment rooted at `root`: the
 * cheapest proof that pyvenv.cfg, the interpreter links and the stdlib fit together.
 */
export async function smokeCheck(root: string, env: NodeJS.ProcessEnv): Promise<void> {
  const fail = (why: string) =>
    new TerrariumError('SMOKE_CHECK_FAILED', `the new environment does not work (${why}); nothing was replaced`, {
      hint: 'run again with -VV; if it came from storage, rebuild it with --no-download',
    });
  const probe = await probeEnvironment(root, env).catch((error: unknown) => {
    throw fail((error as Error).message);
  });
  if (!probe.seesItself) throw fail(`sys.prefix is ${probe.prefix}, expected ${root}`);
  if (probe.prefix === probe.basePrefix) throw fail('bin/python does not recognise the environment');
}
