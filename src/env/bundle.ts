import {
  promises as fs,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { describeCause, TerrariumError } from '../errors.js';
import { run } from '../io/exec.js';
import { listOrEmptySync } from '../io/fs.js';
import { fingerprintPython, whichProgram } from '../python/discover.js';
import { compareVersions, type Fingerprint } from '../python/fingerprint.js';
import { BUNDLE_DIR, type BundleFacts, LIBRARY_MODULES, sortLibraries } from '../python/portable.js';
import { ElfError, isElf, newestGlibc, originRelative, overwriteString, readDynamic } from '../relocate/elf.js';
import { replaceAll } from '../relocate/rewrite.js';
import type { Reporter } from '../report/reporter.js';
import { setMtimes } from './build.js';
import { isCarried, stdlibName, whyNotPortable } from './bundle-plan.js';

export interface Bundled {
  /** The carried interpreter, asked where it now lies (its prefix is `dir/python`). */
  python: Fingerprint;
  facts: BundleFacts;
  /** Text files of the bundle that name its prefix (relative to the environment): their bytecode is not carried. */
  relocated: string[];
}

export interface BundleOptions {
  python: Fingerprint;
  /** The environment being built (a staging directory): the interpreter goes to its `python/` folder. */
  dir: string;
  /** Every file's mtime (ms), as the layers of a build get it. */
  mtime: number;
  /** The path the bytecode names in place of `dir` (the layers' placeholder). */
  placeholder: string;
  env: NodeJS.ProcessEnv;
  reporter: Reporter;
  signal?: AbortSignal | undefined;
}

/**
 * Copies the base interpreter's installation into the environment (what travels: bundle-plan.ts), makes
 * it independent of where it was installed (library search paths relative to each file, text files
 * naming the new place), compiles its standard library naming the
 * placeholder, and says what it needs from the machine it will run on.
 */
export async function bundleInterpreter(options: BundleOptions): Promise<Bundled> {
  const { python, dir, reporter } = options;
  return reporter.during('interpreter', async (phase) => {
    const prefix = python.prefix!;
    const refuse = (why: string) =>
      new TerrariumError('PYTHON_NOT_PORTABLE', `${python.executable} cannot travel with the environment: ${why}`, {
        hint: 'pass an interpreter installed in a prefix of its own, such as pyenv (pyenv install 3.12) or uv (uv python install 3.12) make, with --python',
      });
    const why = whyNotPortable(python, python.prefix ? listOrEmptySync(path.join(python.prefix, 'lib')) : []);
    if (why) throw refuse(why);
    const root = path.join(dir, BUNDLE_DIR);
    const stdlib = stdlibName(python);
    await fs.mkdir(dir, { recursive: true });
    const copied = copyInterpreter(prefix, root, stdlib, options.mtime, refuse);
    await stripDebugInfo(root, copied, options);
    await compileStandardLibrary(root, stdlib, options, copied.relocated);
    const { fingerprint } = await fingerprintPython(path.join(root, 'bin', stdlib), options.env, '/').catch((error: unknown) => {
      throw refuse(`its copy does not start: ${describeCause(error)}`);
    });
    if (fingerprint.prefix !== root) throw refuse(`its copy still finds its files at ${fingerprint.prefix}`);
    const modules = await importable(fingerprint.executable, options.env);
    const fromSystem = new Map([...copied.needed].filter(([name]) => !copied.provided.has(name)));
    const facts: BundleFacts = {
      interpreter: `${python.implementation}-${python.version.join('.')}${python.gilDisabled ? 't' : ''}`,
      ...sortLibraries(fromSystem, modules),
      glibc: copied.glibc,
      modules,
    };
    phase.done({ code: 'INTERPRETER_BUNDLED', interpreter: facts.interpreter, files: copied.files, bytes: copied.bytes });
    return { python: fingerprint, facts, relocated: copied.relocated.map((rel) => `${BUNDLE_DIR}/${rel}`) };
  });
}

/**
 * After the environment is built around the copy: its interpreter links made relative (venv makes them
 * absolute, and the environment is moved), and the bytecode of the bundle's relocated modules removed.
 */
export async function sealBundle(dir: string, bundled: Bundled): Promise<void> {
  const bin = path.join(dir, 'bin');
  for (const name of listOrEmptySync(bin)) {
    const link = path.join(bin, name);
    const target = await fs.readlink(link).catch(() => undefined);
    if (!target?.startsWith(`${dir}/`)) continue;
    await fs.unlink(link);
    await fs.symlink(path.relative(bin, target), link);
  }
  await removeRelocatedBytecode(dir, bundled.relocated);
}

/**
 * Removes the bytecode of relocated modules (`relocated`, relative to the environment `dir`): it would
 * name the build path, and its source changes on every restore. A build's runs make it again.
 */
async function removeRelocatedBytecode(dir: string, relocated: readonly string[]): Promise<void> {
  for (const rel of relocated.filter((file) => file.endsWith('.py'))) {
    const cache = path.join(dir, path.dirname(rel), '__pycache__');
    const stem = `${path.basename(rel, '.py')}.`;
    for (const name of listOrEmptySync(cache).filter((n) => n.startsWith(stem) && n.endsWith('.pyc'))) await fs.rm(path.join(cache, name), { force: true });
  }
}

interface Copied {
  files: number;
  bytes: number;
  /** Text files naming the prefix, relative to the bundle. */
  relocated: string[];
  /** Each library needed, with the files (relative to the bundle) that need it. */
  needed: Map<string, string[]>;
  /** Library names the bundle itself holds (sonames and file names). */
  provided: Set<string>;
  glibc: string | undefined;
  /** Its ELF files, relative to the bundle. */
  elf: string[];
}

/** Synchronous, as the environment's scan is: a few thousand files, each read once. */
function copyInterpreter(prefix: string, root: string, stdlib: string, mtime: number, refuse: (why: string) => Error): Copied {
  const prefixes = [...new Set([prefix, realpathSync(prefix)])];
  const copied: Copied = { files: 0, bytes: 0, relocated: [], needed: new Map(), provided: new Set(), glibc: undefined, elf: [] };
  const seconds = mtime / 1000;
  const walk = (rel: string) => {
    const from = path.join(prefix, rel);
    const to = path.join(root, rel);
    const stat = lstatSync(from);
    if (stat.isDirectory()) {
      mkdirSync(to, { mode: 0o755 });
      for (const name of readdirSync(from).sort()) {
        const child = rel ? `${rel}/${name}` : name;
        if (isCarried(child, stdlib)) walk(child);
      }
    } else if (stat.isSymbolicLink()) {
      symlinkSync(insideLink(readlinkSync(from), from, prefixes), to);
      // A link's own time is in the layer's tar header too.
      lutimesSync(to, seconds, seconds);
    } else if (stat.isFile()) {
      const content = readFileSync(from);
      const written = isElf(content) ? relocateElf(content, rel, prefixes, copied, refuse) : relocateOther(content, rel, prefixes, root, copied);
      writeFileSync(to, written, { mode: stat.mode & 0o7777 });
      utimesSync(to, seconds, seconds);
      copied.files += 1;
      copied.bytes += written.length;
    }
  };
  walk('');
  return copied;
}

/** A link to a path inside the prefix, made relative (so that it follows the copy); others as they are. */
function insideLink(target: string, at: string, prefixes: string[]): string {
  if (!path.isAbsolute(target)) return target;
  const inside = prefixes.find((p) => target === p || target.startsWith(`${p}/`));
  return inside ? path.relative(path.dirname(at), path.join(prefixes[0]!, target.slice(inside.length))) || '.' : target;
}

function relocateElf(content: Buffer, rel: string, prefixes: string[], copied: Copied, refuse: (why: string) => Error): Buffer {
  let info: ReturnType<typeof readDynamic>;
  try {
    info = readDynamic(content);
  } catch (error) {
    if (!(error instanceof ElfError)) throw error;
    info = undefined;
  }
  copied.elf.push(rel);
  if (info) {
    for (const search of [info.runpath, info.rpath]) {
      if (!search) continue;
      let value = search.value;
      for (const p of prefixes) value = originRelative(value, p, path.posix.join(p, path.posix.dirname(rel))) ?? value;
      if (value !== search.value && !overwriteString(content, search, value))
        throw refuse(`the library search path of ${rel} (${search.value}) is too short to hold ${value}`);
    }
    for (const name of info.needed) copied.needed.set(name, [...(copied.needed.get(name) ?? []), rel]);
    if (info.soname) copied.provided.add(info.soname);
    copied.provided.add(path.posix.basename(rel));
    const glibc = newestGlibc(info.versions);
    if (glibc && (!copied.glibc || compareVersions(glibc, copied.glibc) > 0)) copied.glibc = glibc;
  }
  return content;
}

function relocateOther(content: Buffer, rel: string, prefixes: string[], root: string, copied: Copied): Buffer {
  if (!prefixes.some((p) => content.includes(p))) return content;
  // Binary data keeps the path: a shorter one would move what follows it, and strings may share their
  // bytes (a version string can be the tail of the prefix's). The interpreter finds its files from
  // where it lies; a path compiled in is only its last resort.
  if (content.subarray(0, 8192).includes(0)) return content;
  copied.relocated.push(rel);
  return prefixes.reduce((text, p) => replaceAll(text, p, root), content);
}

/**
 * Debug information out of the interpreter's ELF files, with binutils' `strip --strip-debug` where the
 * builder has it (symbols stay, so backtraces keep their function names): two thirds of a pyenv
 * build's libpython and extension modules, which every restore would otherwise unpack. Where there is
 * no `strip`, the files travel as they are.
 */
async function stripDebugInfo(root: string, copied: Copied, options: BundleOptions): Promise<void> {
  const strip = whichProgram('strip', options.env, '/');
  if (!strip || !copied.elf.length) return;
  const files = copied.elf.map((rel) => path.join(root, rel));
  const before = files.reduce((sum, file) => sum + lstatSync(file).size, 0);
  // -p keeps the files' times, which the layer's bytes and the bytecode's checks depend on.
  const result = await run(strip, ['--strip-debug', '-p', ...files], { env: options.env, cwd: root, signal: options.signal });
  if (result.code !== 0) {
    options.reporter.debug(result.stderr.trim());
    return;
  }
  copied.bytes -= before - files.reduce((sum, file) => sum + lstatSync(file).size, 0);
}

/**
 * The standard library's bytecode, made by the copy itself (its first start), naming the placeholder so
 * that it is the same from any build; relocated modules have none (their source changes on restore).
 */
async function compileStandardLibrary(root: string, stdlib: string, options: BundleOptions, relocated: string[]): Promise<void> {
  const lib = path.join(root, 'lib', stdlib);
  const named = path.posix.join(options.placeholder, BUNDLE_DIR, 'lib', stdlib);
  const result = await run(path.join(root, 'bin', stdlib), ['-E', '-s', '-m', 'compileall', '-q', '-f', '-j', '0', '-s', lib, '-p', named, lib], {
    env: options.env,
    cwd: '/',
    signal: options.signal,
  }).catch((error: unknown) => ({ code: -1, stdout: '', stderr: describeCause(error) }));
  // Exit 1 names sources that do not compile (lib2to3's test data), which the interpreter's own install passes over too.
  if (result.code !== 0 && result.code !== 1) {
    const last = result.stderr.trim().split('\n').pop();
    throw new TerrariumError(
      'PYTHON_NOT_PORTABLE',
      `the copied interpreter cannot compile its standard library (exit ${result.code}${last ? `: ${last}` : ''})`,
      {
        hint: 'check that the interpreter given with --python works (python -m compileall on its standard library)',
      },
    );
  }
  await removeRelocatedBytecode(
    path.dirname(root),
    relocated.map((rel) => `${BUNDLE_DIR}/${rel}`),
  );
  // The bytecode files' own times too: the layer's tar headers hold them (their sources have this time already).
  setMtimes(lib, options.mtime / 1000);
}

/** Which of LIBRARY_MODULES the copy imports. */
async function importable(python: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const names = Object.keys(LIBRARY_MODULES);
  const script = `import importlib\nfor name in ${JSON.stringify(names)}:\n    try:\n        importlib.import_module(name)\n        print(name)\n    except Exception:\n        pass\n`;
  const result = await run(python, ['-E', '-s', '-c', script], { env, cwd: '/' });
  return result.stdout.split('\n').filter((name) => names.includes(name));
}
