import { mkdirSync, realpathSync, type Stats, statSync } from 'node:fs';
import path from 'node:path';
import { readBoundedSync, readStart, writeFileAtomic } from '../io/fs.js';
import { FINGERPRINT_SCHEMA, type Fingerprint, isFingerprint } from '../python/fingerprint.js';

/** Larger files are not read (an entry is about 1 KB): a planted giant or FIFO is an empty cache. */
const MAX_CACHE_BYTES = 1 << 20;

/** First bytes of ELF and Mach-O executables: only real binaries are cached, never scripts such as pyenv's shims. */
const BINARY_MAGIC = ['7f454c46', 'feedfacf', 'cffaedfe', 'cafebabe'];

interface Entry {
  schema: number;
  executable: string;
  stdlib: string;
  fingerprint: Fingerprint;
}

/** A fingerprint, and whether it came from the cache (then its facts are unconfirmed until asked again). */
export interface Fingerprinted {
  fingerprint: Fingerprint;
  remembered: boolean;
}

/** Identity of a file's current version: a reinstalled interpreter changes at least one of these. */
export function stamp(stat: Pick<Stats, 'dev' | 'ino' | 'size' | 'mtimeMs' | 'ctimeMs'>): string {
  return [stat.dev, stat.ino, stat.size, stat.mtimeMs, stat.ctimeMs].join(':');
}

/**
 * The fingerprint of `program`, from `cacheFile` when the interpreter's binary and its standard library
 * folder are unchanged since it was taken (the folder changes when, say, Debian's python3-venv adds
 * ensurepip), else from `probe`, then remembered. Running Python costs 30-100 ms; this costs a few stats,
 * which is what makes `key` fast. Wrappers (scripts) pick an interpreter each run: never cached (pyenv
 * shims are resolved to the binary they would run before this, see pyenv.ts). `fresh` asks the
 * interpreter whatever the cache holds, and remembers its answer.
 *
 * The cache is written by others too (a CI cache restored from another job), and stamps are public: a
 * remembered fingerprint is taken only when its paths are those of the binary it is filed under, so
 * the cache can never choose which program runs. Its other facts are confirmed by the caller before
 * they can name a build or cost a store its archive (`remembered`).
 */
export async function cachedFingerprint(
  program: string,
  cacheFile: string | undefined,
  probe: () => Promise<Fingerprint>,
  fresh = false,
): Promise<Fingerprinted> {
  const binary = cacheFile ? binaryPath(program) : undefined;
  if (!binary) return { fingerprint: await probe(), remembered: false };
  const entries = readEntries(cacheFile!);
  const cached = entries[binary];
  if (
    !fresh &&
    cached &&
    cached.schema === FINGERPRINT_SCHEMA &&
    isFingerprint(cached.fingerprint) &&
    pathsOf(cached.fingerprint, binary) &&
    cached.executable === stampOf(binary) &&
    cached.stdlib === stampOf(cached.fingerprint.stdlib)
  )
    return { fingerprint: cached.fingerprint, remembered: true };
  const fingerprint = await probe();
  const executable = stampOf(binary);
  const stdlib = stampOf(fingerprint.stdlib);
  if (executable && stdlib && pathsOf(fingerprint, binary)) {
    entries[binary] = { schema: FINGERPRINT_SCHEMA, executable, stdlib, fingerprint };
    // Best effort: a cache that cannot be written only costs the next run one probe.
    try {
      mkdirSync(path.dirname(cacheFile!), { recursive: true });
      await writeFileAtomic(cacheFile!, `${JSON.stringify(entries)}\n`);
    } catch {
      // ignored
    }
  } else if (cached) {
    delete entries[binary];
    await writeFileAtomic(cacheFile!, `${JSON.stringify(entries)}\n`).catch(() => undefined);
  }
  return { fingerprint, remembered: false };
}

/**
 * Whether a fingerprint's paths belong to `binary`: its executable is that binary, which lies in its
 * prefix, as its standard library does. An interpreter whose own answer breaks this (a virtual
 * environment with copied binaries) is simply never cached.
 */
function pathsOf(fingerprint: Fingerprint, binary: string): boolean {
  const prefix = realOrUndefined(fingerprint.prefix);
  const stdlib = realOrUndefined(fingerprint.stdlib);
  const inside = (p: string, dir: string) => p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
  return realOrUndefined(fingerprint.executable) === binary && !!prefix && !!stdlib && inside(binary, prefix) && inside(stdlib, prefix);
}

function realOrUndefined(file: string | undefined): string | undefined {
  try {
    return file ? realpathSync(file) : undefined;
  } catch {
    return undefined;
  }
}

function binaryPath(program: string): string | undefined {
  try {
    const real = realpathSync(program);
    return BINARY_MAGIC.includes(readStart(real, 4).toString('hex')) ? real : undefined;
  } catch {
    return undefined;
  }
}

function stampOf(file: string | undefined): string | undefined {
  try {
    return file ? stamp(statSync(file)) : undefined;
  } catch {
    return undefined;
  }
}

function readEntries(file: string): Record<string, Entry> {
  try {
    const parsed = JSON.parse(readBoundedSync(file, MAX_CACHE_BYTES).toString('utf8')) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, Entry>) : {};
  } catch {
    return {};
  }
}
