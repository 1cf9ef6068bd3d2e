import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeCause, TerrariumError } from '../errors.js';
import { type RunResult, run } from '../io/exec.js';
import { lstatOrMissing } from '../io/fs.js';
import { whichProgram } from '../python/discover.js';
import type { Fingerprint } from '../python/fingerprint.js';
import { pythonScript } from '../python/scripts.js';
import type { Reporter } from '../report/reporter.js';
import type { PipPlan } from './pip-plan.js';
import { PipProgress } from './pip-progress.js';

export const BUILDERS = ['venv', 'virtualenv'] as const;
export type Builder = (typeof BUILDERS)[number];

export interface BuildOptions {
  python: Fingerprint;
  /** Undefined: venv where the interpreter has it, else virtualenv (Python 2.7). */
  builder: Builder | undefined;
  /** Where the environment is created (a staging directory). */
  dir: string;
  /** The `pip install` runs (lock inputs, then requirement files). */
  pip: PipPlan;
  cwd: string;
  env: NodeJS.ProcessEnv;
  reporter: Reporter;
  signal?: AbortSignal | undefined;
  /**
   * Format 2: every file's mtime set to `mtime` and bytecode made naming its sources under `prefix`
   * (Python 3.9 and later), so that a distribution installed anywhere packs to the same bytes.
   */
  reproducible?: { prefix: string; mtime: number } | undefined;
}

/** `python -m venv` (or virtualenv) then `pip install -r ...`: the dependency math, done once per key. */
export async function buildEnvironment(options: BuildOptions): Promise<void> {
  const { python, dir } = options;
  const env: NodeJS.ProcessEnv = { ...options.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' };
  delete env.VIRTUAL_ENV;
  delete env.PYTHONHOME;
  const stepOptions: StepOptions = { env, cwd: options.cwd, signal: options.signal, python: python.executable };
  const compileHere = compilesAfterPip(python, env);
  // A reproducible build compiles all of site-packages once at the end: the seeded pip's bytecode would be made twice.
  await createEnvironment(options, stepOptions, compileHere && options.reproducible ? ['--no-compile'] : []);
  const site = sitePackages(dir, python);
  const before = compileHere ? await entriesOf(site) : undefined;
  await installRequirements(options, stepOptions, compileHere);
  if (!compileHere) return;
  const { reproducible, reporter } = options;
  if (reproducible) {
    // The seeded pip's bytecode too: made against its sources' old mtimes and the build path.
    await setMtimes(dir, reproducible.mtime / 1000);
    // -f: the interpreter compileall runs in may have written bytecode of its own as it started (a .pth's module).
    await compileBytecode(reporter, dir, [site], stepOptions, ['-f', '-s', dir, '-p', reproducible.prefix]);
    // And the bytecode files' own mtimes, which the archive's tar headers hold (Python checks only the sources'):
    // compileall wrote only under site-packages.
    await setMtimes(site, reproducible.mtime / 1000);
  } else {
    const changed = changedEntries(before, await entriesOf(site));
    await compileBytecode(reporter, dir, changed ? changed.map((name) => path.join(site, name)) : [path.join(dir, 'lib')], stepOptions);
  }
}

/** The empty environment, with pip: venv (ensurepip) or virtualenv, as --builder says. */
async function createEnvironment(options: BuildOptions, stepOptions: StepOptions, seedArgs: string[]): Promise<void> {
  const { python, dir, reporter } = options;
  const builder = options.builder ?? (python.hasVenv ? 'venv' : 'virtualenv');
  await reporter.during(builder, async (phase) => {
    if (builder === 'venv') {
      if (!python.hasVenv) {
        throw new TerrariumError('PYTHON_NO_VENV', `${python.executable} (Python ${python.version.join('.')}) has no working venv module`, {
          hint: 'install it (Debian/Ubuntu: apt install python3-venv), or pass --builder virtualenv',
        });
      }
      check(
        await step(reporter, python.executable, ['-m', 'venv', '--without-pip', dir], stepOptions),
        `${python.executable} -m venv`,
        reporter,
        'on Debian/Ubuntu, apt install python3-venv',
      );
      // venv runs ensurepip with the environment's interpreter named as the one it was made from.
      const named = path.join(dir, 'bin', path.basename(python.executable));
      await seedPip(reporter, existsSync(named) ? named : path.join(dir, 'bin', 'python'), python, stepOptions, seedArgs);
    } else {
      // virtualenv runs under its own Python and creates environments for another one. Without seeding it
      // needs no download; the interpreter's own ensurepip then installs the pip it bundles (offline).
      const virtualenv = whichProgram('virtualenv', stepOptions.env, options.cwd);
      if (!virtualenv) {
        throw new TerrariumError('PYTHON_NO_VENV', `${python.executable} (Python ${python.version.join('.')}) needs virtualenv, which is not installed`, {
          hint: 'install it (Debian/Ubuntu: apt install python3-virtualenv; elsewhere: pipx install virtualenv)',
        });
      }
      check(
        await step(reporter, virtualenv, ['--no-seed', '--no-periodic-update', '-p', python.executable, dir], stepOptions),
        'virtualenv',
        reporter,
        'check that this virtualenv supports the interpreter',
      );
      await seedPip(reporter, path.join(dir, 'bin', 'python'), python, stepOptions, seedArgs);
    }
    phase.done({ code: 'VENV_CREATED', version: python.version.join('.') });
  });
}

/** pip install, one run per plan (requirement files, or a lock's artifacts then the rest); a failure is pip's words and BUILD_PIP_FAILED. */
async function installRequirements(options: BuildOptions, stepOptions: StepOptions, compileHere: boolean): Promise<void> {
  const { dir, reporter } = options;
  const pip = await withPlanFiles(options.pip, async (installs) => {
    const progress = new PipProgress();
    return reporter.during(
      'pip install',
      async (phase) => {
        let installed = 0;
        let result: RunResult | undefined;
        for (const args of installs) {
          const pipArgs = ['-m', 'pip', 'install', ...(compileHere ? ['--no-compile'] : []), ...args];
          result = await step(reporter, path.join(dir, 'bin', 'python'), pipArgs, stepOptions, (line) => progress.feed(line));
          if (result.code !== 0) return result;
          installed += /^Successfully installed (.+)$/m.exec(result.stdout)?.[1]?.split(' ').length ?? 0;
        }
        phase.done({ code: 'PACKAGES_INSTALLED', count: installed });
        return result!;
      },
      () => progress.describe(),
    );
  });
  if (pip.code === 0) return;
  options.signal?.throwIfAborted();
  if (reporter.verbosity < 2) reporter.failureOutput(pip.stdout + pip.stderr);
  throw new TerrariumError('BUILD_PIP_FAILED', `pip install failed (exit ${pip.code}); the existing environment was left as it was`, {
    hint: "see pip's output above; fix the requirements (or the package index settings) and run again",
    exitCode: pip.code,
  });
}

/** Gives every file under `dir` the same mtime (in seconds). */
export async function setMtimes(dir: string, seconds: number): Promise<void> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) await setMtimes(file, seconds);
    else if (entry.isFile()) await fs.utimes(file, seconds, seconds);
  }
}

/**
 * pip compiles the bytecode of what it installs one file at a time, most of a large install's time
 * (docs/benchmark.md); compileall spreads the same work over every core.
 * From Python 3.9, whose compileall has no depth limit; where the user turned pip's compiling off
 * (PIP_NO_COMPILE), nothing is compiled.
 */
function compilesAfterPip(python: Fingerprint, env: NodeJS.ProcessEnv): boolean {
  const [major = 0, minor = 0] = python.version;
  return (major > 3 || (major === 3 && minor >= 9)) && !/^(1|true|yes|on)$/i.test(env.PIP_NO_COMPILE ?? '');
}

/** Where pip installs in a venv of this interpreter (CPython's layout; 3.13t's folder carries its ABI's t). */
function sitePackages(dir: string, python: Fingerprint): string {
  return path.join(dir, 'lib', `python${python.version[0]}.${python.version[1]}${python.gilDisabled ? 't' : ''}`, 'site-packages');
}

/** The entries of a folder with what changes when pip installs or replaces one (a new inode, a new mtime). */
async function entriesOf(dir: string): Promise<Map<string, string> | undefined> {
  const names = await fs.readdir(dir).catch(() => undefined);
  if (!names) return undefined;
  const entries = new Map<string, string>();
  for (const name of names) {
    const stat = await lstatOrMissing(path.join(dir, name));
    if (stat) entries.set(name, `${stat.ino}:${stat.mtimeMs}`);
  }
  return entries;
}

function changedEntries(before: Map<string, string> | undefined, after: Map<string, string> | undefined): string[] | undefined {
  if (!before || !after) return undefined;
  return [...after].filter(([name, stamp]) => before.get(name) !== stamp && (!name.includes('.') || name.endsWith('.py'))).map(([name]) => name);
}

const PARALLEL_FROM = 200;

/** The `.py` files under `targets` (files or folders), counted up to `limit`. */
async function countSources(targets: string[], limit: number): Promise<number> {
  let count = 0;
  const pending = [...targets];
  while (pending.length && count < limit) {
    const next = pending.pop()!;
    if (next.endsWith('.py')) count += 1;
    const entries = await fs.readdir(next, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (entry.isDirectory()) pending.push(path.join(next, entry.name));
      else if (entry.name.endsWith('.py')) count += 1;
    }
  }
  return count;
}

/**
 * Compiles `targets` (what pip installed: the site-packages entries it added or replaced, or all of
 * lib/ where the layout is not CPython's), spread over every core.
 */
async function compileBytecode(reporter: Reporter, dir: string, targets: string[], options: StepOptions, extra: string[] = []): Promise<void> {
  if (!targets.length) return;
  // A pool of processes is slow to start: worth it from a couple of hundred modules on.
  const workers = (await countSources(targets, PARALLEL_FROM)) < PARALLEL_FROM ? '1' : '0';
  await reporter.during('bytecode', async (phase) => {
    const result = await step(reporter, path.join(dir, 'bin', 'python'), ['-m', 'compileall', '-q', '-j', workers, ...extra, ...targets], options);
    // Exit 1 names files that do not compile (templates, Python 2 sources), which pip passes over too.
    if (result.code === 0 || result.code === 1) phase.done({ code: 'BYTECODE_COMPILED', perCore: workers === '0' });
    else reporter.warn({ code: 'BYTECODE_FAILED', exitCode: result.code });
  });
}

/** Writes the plan's files to a folder of their own for the time pip runs, and names them there. */
async function withPlanFiles<T>(plan: PipPlan, use: (installs: string[][]) => Promise<T>): Promise<T> {
  const names = Object.keys(plan.files);
  if (!names.length) return use(plan.installs);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'terrarium-pip-'));
  try {
    for (const name of names) await fs.writeFile(path.join(dir, name), plan.files[name]!);
    return await use(plan.installs.map((args) => args.map((arg) => (names.includes(arg) ? path.join(dir, arg) : arg))));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Installs the pip that the interpreter's ensurepip bundles, as `python -m ensurepip --default-pip`
 * does; seed_pip.py does it without starting pip from a zip file, which saves seconds on every build
 * (docs/how-it-works.md). Python 2's ensurepip is used as it is.
 */
async function seedPip(reporter: Reporter, interpreter: string, python: Fingerprint, options: StepOptions, seedArgs: string[]): Promise<void> {
  const args = python.version[0] === 2 ? ['-m', 'ensurepip', '--default-pip'] : [pythonScript('seed_pip.py'), ...seedArgs];
  check(
    await step(reporter, interpreter, args, options),
    'installing pip with ensurepip',
    reporter,
    'the interpreter needs its ensurepip module (Debian: python3-venv)',
  );
}

function check(result: RunResult, what: string, reporter: Reporter, hint: string): void {
  if (result.code === 0) return;
  reporter.failureOutput(result.stdout + result.stderr);
  throw new TerrariumError('BUILD_VENV_FAILED', `${what} failed (exit ${result.code})`, { hint: `see the output above; ${hint}` });
}

interface StepOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  signal: AbortSignal | undefined;
  /** The interpreter that runs supervise.py. */
  python: string;
}

/**
 * Runs one step of the build under supervise.py (run by `options.python`), so that the step and all it
 * starts die with terrarium; `onLine` gets each line the program prints (pip's progress).
 */
async function step(
  reporter: Reporter,
  program: string,
  args: string[],
  options: StepOptions,
  onLine: (line: string) => void = () => undefined,
): Promise<RunResult> {
  reporter.detail({ code: 'RUNNING', command: [program, ...args].join(' ') });
  // Output comes in chunks that need not end at a line's end: a line is passed on once it is whole.
  let partial = '';
  const onOutput = (chunk: string) => {
    reporter.debug(chunk.trimEnd());
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) onLine(line);
  };
  try {
    const { python, ...runOptions } = options;
    return await run(python, ['-E', '-s', '-S', pythonScript('supervise.py'), String(process.pid), program, ...args], { ...runOptions, onOutput });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new TerrariumError('BUILD_VENV_FAILED', `cannot run ${program}: ${describeCause(error)}`, {
      hint: 'check the interpreter given with --python',
    });
  }
}
