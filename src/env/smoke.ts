import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Manifest } from '../archive/manifest.js';
import { describeCause, TerrariumError } from '../errors.js';
import { archiveCodeEnv, isolatedPythonFlags, type RunResult, run } from '../io/exec.js';
import { writeFileAtomic } from '../io/fs.js';
import { carriedPython } from '../python/portable.js';
import { relocatePyvenvCfg } from '../relocate/rewrite.js';

// NUL-separated bytes rather than JSON: importing json (and re with it) was a third of the probe's
// time, paid by every install (docs/benchmark.md). Paths go out as the file system's bytes, so no locale can fail to encode them.
const PROBE = [
  'import os, sys',
  'enc = getattr(os, "fsencode", lambda p: p)',
  'base = getattr(sys, "base_prefix", getattr(sys, "real_prefix", sys.prefix))',
  'getattr(sys.stdout, "buffer", sys.stdout).write(b"\\0".join([enc(sys.prefix), enc(base), ("%d.%d" % sys.version_info[:2]).encode("ascii")]))',
].join('\n');

export interface EnvironmentProbe {
  prefix: string;
  basePrefix: string;
  version: [number, number];
  /** sys.prefix is this environment (symlinks resolved). */
  seesItself: boolean;
}

/**
 * Runs the environment's own python once and reports how it sees itself; throws with the reason when it
 * cannot run. That python executes the environment's .pth files (site does, to find the venv), so it is
 * archive code: it gets only archiveCodeEnv's variables, isolated mode where the `declared` version has it, and `/`
 * as its working directory (nothing importable planted beside the caller).
 */
export async function probeEnvironment(
  root: string,
  env: NodeJS.ProcessEnv,
  declared: readonly number[] | undefined,
  imports: readonly string[] = [],
): Promise<EnvironmentProbe> {
  let result: RunResult;
  const script = imports.length ? `import ${imports.join(', ')}\n${PROBE}` : PROBE;
  try {
    result = await run(path.join(root, 'bin', 'python'), [...isolatedPythonFlags(declared), '-c', script], { env: archiveCodeEnv(env), cwd: '/' });
  } catch (error) {
    throw new Error(`cannot run bin/python: ${describeCause(error)}`);
  }
  if (result.code !== 0) throw new Error(`bin/python exited ${result.code}: ${result.stderr.trim().split('\n').pop() ?? ''}`);
  const [prefix = '', basePrefix = '', version = ''] = result.stdout.split('\0');
  const [major, minor] = version.split('.').map(Number);
  if (!prefix || !basePrefix || !Number.isInteger(major) || !Number.isInteger(minor)) throw new Error(`bin/python answered ${JSON.stringify(result.stdout)}`);
  const [realPrefix, realRoot] = await Promise.all([fs.realpath(prefix), fs.realpath(root)]);
  return { prefix, basePrefix, version: [major!, minor!], seesItself: realPrefix === realRoot };
}

/**
 * Checks that the environment's own python sees itself as a virtual environment rooted at `root`: the
 * cheapest proof that pyvenv.cfg, the interpreter links and the stdlib fit together.
 */
export async function smokeCheck(root: string, env: NodeJS.ProcessEnv, version: readonly number[], imports: readonly string[] = []): Promise<void> {
  const fail = (why: string) =>
    new TerrariumError('SMOKE_CHECK_FAILED', `the new environment does not work (${why}); nothing was replaced`, {
      hint: 'run again with -VV; if it came from storage, rebuild it with --no-download',
    });
  const probe = await probeEnvironment(root, env, version, imports).catch((error: unknown) => {
    throw fail(describeCause(error));
  });
  if (!probe.seesItself) throw fail(`sys.prefix is ${probe.prefix}, expected ${root}`);
  if (probe.prefix === probe.basePrefix) throw fail('bin/python does not recognise the environment');
  // The environment's packages live under lib/pythonX.Y: another minor version runs, and finds none of them.
  const expected = version.slice(0, 2).join('.');
  if (probe.version.join('.') !== expected) throw fail(`bin/python is Python ${probe.version.join('.')}, the environment is for ${expected}`);
}

/**
 * A portable environment, checked in staging: its pyvenv.cfg names the carried interpreter where the
 * environment is going (`target`), not there yet, so for the check it names the one in staging, and
 * then the target's again. The probe imports the modules that need system libraries which the
 * interpreter imported where it was built.
 */
export async function smokeCheckCarried(root: string, target: string, env: NodeJS.ProcessEnv, manifest: Pick<Manifest, 'python' | 'portable'>): Promise<void> {
  const cfg = path.join(root, 'pyvenv.cfg');
  const final = await fs.readFile(cfg, 'utf8');
  await writeFileAtomic(cfg, relocatePyvenvCfg(final, target, root, carriedPython(manifest.python, root)));
  try {
    await smokeCheck(root, env, manifest.python.version, manifest.portable?.modules ?? []);
  } finally {
    await writeFileAtomic(cfg, final);
  }
}
