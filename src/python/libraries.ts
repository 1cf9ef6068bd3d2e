import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from '../io/exec.js';
import type { Platform } from './fingerprint.js';

/**
 * What this machine offers a carried interpreter, asked without any Python: its system and CPU as
 * Python names them, its glibc (from Node's own report) and the shared libraries the dynamic loader
 * would find, where it would look for them.
 */
export interface MachineFacts extends Pick<Platform, 'system' | 'machine' | 'libc' | 'libcVersion'> {
  /** Whether the loader finds this soname here (a file that starts as an ELF file does). */
  present(soname: string): boolean;
}

/** The folders the loader searches after its cache, by architecture (Debian's multiarch ones first). */
const DEFAULT_DIRS = ['/lib', '/usr/lib', '/lib64', '/usr/lib64'];
const MULTIARCH: Record<string, string> = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu', ia32: 'i386-linux-gnu', arm: 'arm-linux-gnueabihf' };

export async function machineFacts(env: NodeJS.ProcessEnv): Promise<MachineFacts> {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  const cached = await loaderCache(env);
  const multiarch = MULTIARCH[process.arch];
  const dirs = [
    ...(env.LD_LIBRARY_PATH ?? '').split(':').filter((dir) => path.isAbsolute(dir)),
    ...(multiarch ? [`/lib/${multiarch}`, `/usr/lib/${multiarch}`] : []),
    ...DEFAULT_DIRS,
  ];
  const glibc = header?.glibcVersionRuntime;
  return {
    system: os.type(),
    machine: os.machine(),
    libc: glibc ? 'glibc' : 'unknown',
    libcVersion: glibc ?? '',
    present: (soname) => {
      if (soname.includes('/')) return false;
      const candidates = [...(cached.get(soname) ?? []), ...dirs.map((dir) => path.join(dir, soname))];
      return candidates.some(isElfFile);
    },
  };
}

/** The loader's cache as `ldconfig -p` prints it: soname to paths (empty where there is no ldconfig, as on musl). */
async function loaderCache(env: NodeJS.ProcessEnv): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  for (const program of ['/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    if (!existsSync(program)) continue;
    const result = await run(program, ['-p'], { env: { PATH: env.PATH ?? '/usr/bin:/bin' }, cwd: '/' }).catch(() => undefined);
    if (result?.code !== 0) continue;
    for (const match of result.stdout.matchAll(/^\s+(\S+) \(([^)]*)\) => (\/\S+)$/gm)) {
      if (!matchesArch(match[2]!)) continue;
      found.set(match[1]!, [...(found.get(match[1]!) ?? []), match[3]!]);
    }
    return found;
  }
  return found;
}

/** ldconfig lists every architecture's libraries: `libc6,x86-64`, `libc6,AArch64`, plain `libc6` for 32-bit x86. */
function matchesArch(flags: string): boolean {
  if (process.arch === 'x64') return flags.includes('x86-64');
  if (process.arch === 'arm64') return /aarch64/i.test(flags);
  return !flags.includes('x86-64') && !/aarch64/i.test(flags);
}

function isElfFile(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const magic = Buffer.alloc(4);
    return readSync(fd, magic, 0, 4, 0) === 4 && magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
