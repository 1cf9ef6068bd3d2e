import { promises as fs } from 'node:fs';
import path from 'node:path';
import { TerrariumError } from '../errors.js';
import type { Manifest } from './manifest.js';

export interface TreeEntry {
  /** Relative to the environment root, `/`-separated. */
  path: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  mtime: Date;
  size: number;
  /** Symlinks only: always relative and inside the environment. */
  linkname?: string;
}

export type Relocations = Pick<Manifest, 'text' | 'binary' | 'interpreterLinks' | 'externalLinks'>;

export interface ScanResult extends Relocations {
  /** What goes into the archive, parents before children, in a stable order. */
  entries: TreeEntry[];
}

/** terrarium's own folder inside an environment; rewritten at every pack, never scanned. */
export const TERRARIUM_DIR = '.terrarium';

const READ_AHEAD = 32;

/**
 * Walks a freshly built environment and finds everything that names its path: text files (scripts,
 * activate, pyvenv.cfg), binaries, and the symlinks to the base interpreter. Bytecode is skipped:
 * CPython replaces a .pyc's recorded source path with the real one when it loads it.
 */
export async function scanEnvironment(root: string, interpreter: string): Promise<ScanResult> {
  const prefix = Buffer.from(root);
  const interpreterReal = await fs.realpath(interpreter);
  const result: ScanResult = { entries: [], text: [], binary: [], interpreterLinks: [], externalLinks: [] };
  const toRead: TreeEntry[] = [];

  const walk = async (relDir: string): Promise<void> => {
    const names = (await fs.readdir(path.join(root, relDir))).sort();
    for (const name of names) {
      const rel = relDir ? `${relDir}/${name}` : name;
      if (rel === TERRARIUM_DIR) continue;
      const abs = path.join(root, rel);
      const stat = await fs.lstat(abs);
      const base = { path: rel, mode: stat.mode & 0o777, mtime: stat.mtime, size: 0 };
      if (stat.isDirectory()) {
        result.entries.push({ ...base, type: 'directory' });
        await walk(rel);
      } else if (stat.isFile()) {
        const entry: TreeEntry = { ...base, type: 'file', size: stat.size };
        result.entries.push(entry);
        if (!name.endsWith('.pyc')) toRead.push(entry);
      } else if (stat.isSymbolicLink()) {
        await classifyLink(rel, abs, base);
      } else {
        throw new TerrariumError('RELOCATE_FAILED', `cannot pack ${abs}: not a file, directory or symlink`, {
          hint: 'remove sockets, FIFOs and device files from the environment',
        });
      }
    }
  };

  const classifyLink = async (rel: string, abs: string, base: Omit<TreeEntry, 'type'>): Promise<void> => {
    const target = await fs.readlink(abs);
    const absoluteTarget = path.resolve(path.dirname(abs), target);
    const inside = absoluteTarget === root || absoluteTarget.startsWith(`${root}/`);
    if (inside) {
      // Store every inside link relative, so that it follows the environment wherever it goes.
      const relative = path.relative(path.dirname(abs), absoluteTarget) || '.';
      result.entries.push({ ...base, type: 'symlink', linkname: relative });
      return;
    }
    const real = await fs.realpath(absoluteTarget).catch(() => undefined);
    if (real === interpreterReal) result.interpreterLinks.push(rel);
    else result.externalLinks.push({ path: rel, target: absoluteTarget });
  };

  await walk('');

  // Reading every file is the cost of a faithful relocation; overlap the reads to hide disk latency.
  for (let i = 0; i < toRead.length; i += READ_AHEAD) {
    const batch = toRead.slice(i, i + READ_AHEAD);
    const contents = await Promise.all(batch.map((entry) => fs.readFile(path.join(root, entry.path))));
    contents.forEach((content, j) => {
      if (content.indexOf(prefix) < 0) return;
      const isBinary = content.subarray(0, 8192).includes(0);
      (isBinary ? result.binary : result.text).push(batch[j]!.path);
    });
  }
  return result;
}
