import { mkdirSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { readStart, writeFileAtomic } from '../io/fs.js';
import { FINGERPRINT_SCHEMA, isFingerprint, type Fingerprint } from '../python/fingerprint.js';

/** First bytes of ELF and Mach-O executables: only real binaries are cached, never scripts such as pyenv's shims. */
const BINARY_MAGIC = ['7f454c46', 'feedfacf', 'cffaedfe', 'cafebabe'];

interface Entry {
  schema: number;
  executable: string;
  stdlib: string;
  fingerprint: Fingerprint;
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
 * shims are resolved to the binary they would run before this, see pyenv.ts).
 */
export async function cachedFingerprint(program: string, cacheFile: string | undefined, probe: () => Promise<Fingerprint>): Promise<Fingerprint> {
  const binary = cacheFile ? binaryPath(program) : undefined;
  if (!binary) return probe();
  const entries = readEntries(cacheFile!);
  const cached = entries[binary];
  if (
    cached &&
    cached.schema === FINGERPRINT_SCHEMA &&
    isFingerprint(cached.fingerprint) &&
    cached.executable === stampOf(binary) &&
    cached.stdlib === stampOf(cached.fingerprint.stdlib)
  )
    return cached.fingerprint;
  const fingerprint = await probe();
  const executable = stampOf(binary);
  const stdlib = stampOf(fingerprint.stdlib);
  if (executable && stdlib) {
    entries[binary] = { schema: FINGERPRINT_SCHEMA, executable, stdlib, fingerprint };
    // Best effort: a cache that cannot be written only costs the next run one probe.
    try {
      mkdirSync(path.dirname(cacheFile!), { recursive: true });
      await writeFileAtomic(cacheFile!, `${JSON.stringify(entries)}\n`);
    } catch {
      // ignored
    }
  }
  return fingerprint;
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
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, Entry>) : {};
  } catch {
    return {};
  }
}
