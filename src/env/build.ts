import { existsSync, promises as fs, readdirSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Layer } from '../archive/layers.js';
import { TerrariumError } from '../errors.js';
import { listOrEmptySync, lstatOrMissing } from '../io/fs.js';
import { whichProgram } from '../python/discover.js';
import type { Fingerprint } from '../python/fingerprint.js';
import { pythonScript } from '../python/scripts.js';
import type { Reporter } from '../report/reporter.js';
import { check, type StepOptions, step } from './build-step.js';
import { compileBytecode } from './bytecode.js';
import { installRequirements } from './pip-install.js';
import type { PipPlan } from './pip-plan.js';
import { parseSeedReport, pipHasReport, type ReportedInstall } from './pip-report.js';

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
  /**
   * Given the new environment's site-packages (pip seeded, nothing else): what stored layers can give it
   * (a miss assembled), pip run through `pip` for the rest. Undefined: pip was not run, the build runs it.
   */
  reuse?: ((site: string, step: StepOptions, seeded: readonly ReportedInstall[], pip: PipRun) => Promise<Reuse | undefined>) | undefined;
}

/** `pip install` of a plan in the new environment: what it installed (pip's report; undefined where pip wrote none). */
export type PipRun = (plan: PipPlan) => Promise<ReportedInstall[] | undefined>;

/**
 * What a miss found already stored (install/assemble): distributions restored from layers other keys
 * published, and pip's runs for the rest. `finish` writes, once pip is done, what pip itself would
 * have written for the restored ones (their RECORD and REQUESTED).
 */
export interface Reuse {
  /** What pip installed besides (its runs were the reuse step's). */
  installed: ReportedInstall[] | undefined;
  /** The distributions restored, as pip's report would list them. */
  restored: ReportedInstall[];
  /** Names in site-packages that only restored layers hold: their bytecode and mtimes came with them. */
  restoredNames: ReadonlySet<string>;
  /** The files restored from layers, and whether each names the environment's path: the scan need not read them. */
  known: ReadonlyMap<string, boolean>;
  /** The stored layers restored, each with its blob as read (kept until the environment is packed) and its files. */
  stored: readonly StoredLayer[];
  finish(): Promise<void>;
  /** Removes the blobs kept. */
  dispose(): Promise<void>;
}

export interface StoredLayer {
  layer: Layer;
  blob: string;
  files: readonly string[];
}

/** What a build did: the distributions it installed (from pip's report: undefined where pip could not write one), and what it reused. */
export interface BuildOutcome {
  installed: ReportedInstall[] | undefined;
  reuse: Reuse | undefined;
}

/** `python -m venv` (or virtualenv) then `pip install -r ...`: the dependency math, done once per key. */
export async function buildEnvironment(options: BuildOptions): Promise<BuildOutcome> {
  const { python, dir } = options;
  const env: NodeJS.ProcessEnv = { ...options.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' };
  delete env.VIRTUAL_ENV;
  delete env.PYTHONHOME;
  const stepOptions: StepOptions = { env, cwd: options.cwd, signal: options.signal, python: python.executable };
  const compileHere = compilesAfterPip(python, env);
  // Only a reproducible build's layers can be reused, and only where pip (and the seeding) say what they installed from.
  const layered = compileHere && options.reproducible !== undefined;
  // Its bytecode is compileall's (or a stored layer's) alone: none written by Python as pip imports itself, against mtimes still to change.
  if (layered) env.PYTHONDONTWRITEBYTECODE = '1';
  // A reproducible build compiles all of site-packages once at the end: the seeded pip's bytecode would be made twice.
  const seeded = await withSeedReport(layered, (seedArgs) => createEnvironment(options, stepOptions, seedArgs));
  const site = sitePackages(dir, python);
  const reports = layered && pipHasReport(seededPip(site));
  // What site-packages held before pip first ran: what pip replaced of it is compiled again.
  let before: Promise<Map<string, string> | undefined> | undefined;
  const pip: PipRun = async (plan) => {
    before ??= compileHere ? entriesOf(site) : Promise.resolve(undefined);
    await before;
    return installRequirements(options, plan, stepOptions, { compileHere, reports, site });
  };
  const reuse = reports && options.reuse ? await options.reuse(site, stepOptions, seeded, pip) : undefined;
  try {
    const installed = reuse ? reuse.installed : await pip(options.pip);
    await reuse?.finish();
    return await compileAll(options, stepOptions, {
      compileHere,
      site,
      before: await before,
      reuse,
      installed: installed && [...seeded, ...(reuse?.restored ?? []), ...installed],
    });
  } catch (error) {
    await reuse?.dispose();
    throw error;
  }
}

/** The end of a build once pip is done: bytecode, where pip did not make it. */
async function compileAll(
  options: BuildOptions,
  stepOptions: StepOptions,
  {
    compileHere,
    site,
    before,
    reuse,
    installed,
  }: { compileHere: boolean; site: string; before: Map<string, string> | undefined; reuse: Reuse | undefined; installed: ReportedInstall[] | undefined },
): Promise<BuildOutcome> {
  const { dir } = options;
  const outcome = { installed, reuse };
  if (!compileHere) return outcome;
  const { reproducible, reporter } = options;
  if (reproducible) {
    // Restored layers brought their bytecode and mtimes: only what pip installed (or changed) is compiled.
    const compiled = reuse ? await compiledBesides(site, reuse, before) : [site];
    const restored = (file: string) =>
      path.dirname(file) === site && reuse!.restoredNames.has(path.basename(file)) && !compiled.includes(file) && !file.endsWith('.dist-info');
    // The seeded pip's bytecode too: made against its sources' old mtimes and the build path.
    setMtimes(dir, reproducible.mtime / 1000, reuse && restored);
    // -f: the interpreter compileall runs in may have written bytecode of its own as it started (a .pth's module).
    await compileBytecode(reporter, dir, compiled, stepOptions, ['-f', '-s', dir, '-p', reproducible.prefix]);
    // And the bytecode files' own mtimes, which the archive's tar headers hold (Python checks only the sources'):
    // compileall wrote only under site-packages.
    setMtimes(site, reproducible.mtime / 1000, reuse && restored);
  } else {
    const changed = changedEntries(before, await entriesOf(site));
    await compileBytecode(reporter, dir, changed ? changed.map((name) => path.join(site, name)) : [path.join(dir, 'lib')], stepOptions);
  }
  return outcome;
}

/** What of site-packages stored layers did not bring the bytecode of: what pip installed, or replaced of what was there before it ran. */
async function compiledBesides(site: string, reuse: Reuse, before: Map<string, string> | undefined): Promise<string[]> {
  const after = await entriesOf(site);
  return listOrEmptySync(site)
    .filter((name) => !reuse.restoredNames.has(name) || (before?.has(name) && before.get(name) !== after?.get(name)))
    .map((name) => path.join(site, name));
}

/** Runs the seeding with `--no-compile --report FILE` for a reproducible build, and returns what it reports it installed. */
async function withSeedReport(reproducible: boolean, seed: (seedArgs: string[]) => Promise<void>): Promise<ReportedInstall[]> {
  if (!reproducible) {
    await seed([]);
    return [];
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'terrarium-seed-'));
  try {
    const report = path.join(dir, 'seeded.json');
    await seed(['--no-compile', '--report', report]);
    return parseSeedReport(await fs.readFile(report, 'utf8').catch(() => ''));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** The version of the pip a new environment was seeded with ('' when none is found). */
function seededPip(site: string): string {
  return (
    listOrEmptySync(site)
      .map((name) => /^pip-([^-]+)\.dist-info$/.exec(name)?.[1])
      .find((version) => version !== undefined) ?? ''
  );
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

/**
 * Gives every file under `dir` the same mtime (in seconds), but under what `skip` names; synchronously,
 * as one call takes microseconds and there are thousands.
 */
export function setMtimes(dir: string, seconds: number, skip?: (file: string) => boolean): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (skip?.(file)) continue;
    if (entry.isDirectory()) setMtimes(file, seconds, skip);
    else if (entry.isFile()) utimesSync(file, seconds, seconds);
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
