import { promises as fs } from 'node:fs';
import path from 'node:path';
import { TerrariumError, describeCause } from '../errors.js';
import { run } from '../io/exec.js';

const PROBE = 'import json, sys; print(json.dumps([sys.prefix, getattr(sys, "base_prefix", getattr(sys, "real_prefix", sys.prefix))]))';

/**
 * Runs the environment's own python and checks that it sees itself as a virtual environment rooted
 * at `expected`: the cheapest proof that pyvenv.cfg, the interpreter links and the stdlib fit together.
 */
export async function smokeCheck(root: string, expected: string, env: NodeJS.ProcessEnv): Promise<void> {
  const python = path.join(root, 'bin', 'python');
  const fail = (why: string) =>
    new TerrariumError('SMOKE_CHECK_FAILED', `the new environment does not work (${why}); nothing was replaced`, {
      hint: 'run again with -VV; if it came from storage, rebuild it with --no-download',
    });
  let result;
  try {
    result = await run(python, ['-E', '-s', '-c', PROBE], { env: { ...env, VIRTUAL_ENV: '' } });
  } catch (error) {
    throw fail(`cannot run bin/python: ${describeCause(error)}`);
  }
  if (result.code !== 0) throw fail(`bin/python exited ${result.code}: ${result.stderr.trim().split('\n').pop() ?? ''}`);
  const [prefix, basePrefix] = JSON.parse(result.stdout.trim()) as [string, string];
  const [realPrefix, realExpected] = await Promise.all([fs.realpath(prefix), fs.realpath(expected)]);
  if (realPrefix !== realExpected) throw fail(`sys.prefix is ${prefix}, expected ${expected}`);
  if (prefix === basePrefix) throw fail('bin/python does not recognise the environment');
}
