import { lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { TerrariumError } from '../errors.js';
import { isInterpreterLinkName, type Relocations, TERRARIUM_DIR } from '../relocate/relocations.js';
import { MAX_RELOCATED_BYTES } from '../relocate/relocator.js';
import type { Entry } from './entry.js';

export interface ScanResult extends Relocations {
  /** What goes into the archive, parents before children, in a stable order. */
  entries: Entry[];
  /** Files that name the build path but are too large to be rewritten on restore (left as they are). */
  tooLarge: string[];
}

/**
 * Walks a freshly built environment and finds everything that names its path: text files (scripts,
 * activate, pyvenv.cfg), binaries, and the symlinks to the base interpreter. Bytecode is skipped:
 * CPython replaces a .pyc's recorded source path with the real one when it loads it.
 * Synchronous calls throughout: one promise per lstat and read cost more than the calls themselves
 * (2.9 s against about 0.5 s for the benchmark's 18,000 files). Files in `known` are not read: it
 * says whether each names the build path (the files of stored layers, rewritten as they were restored).
 */
export function scanEnvironment(root: string, interpreter: string, known?: ReadonlyMap<string, boolean>): ScanResult {
  const prefix = Buffer.from(root);
  const interpreterReal = realpathSync(interpreter);
  const result: ScanResult = { entries: [], text: [], binary: [], interpreterLinks: [], externalLinks: [], tooLarge: [] };

  const walk = (relDir: string): void => {
    const names = readdirSync(path.join(root, relDir)).sort();
    for (const name of names) {
      const rel = relDir ? `${relDir}/${name}` : name;
      if (rel === TERRARIUM_DIR) continue;
      const abs = path.join(root, rel);
      const stat = lstatSync(abs);
      const base = { path: rel, mode: stat.mode & 0o777, mtime: stat.mtimeMs, size: 0 };
      if (stat.isDirectory()) {
        result.entries.push({ ...base, type: 'directory' });
        walk(rel);
      } else if (stat.isFile()) {
        result.entries.push({ ...base, type: 'file', size: stat.size });
        const names = known?.get(rel);
        if (names) result.text.push(rel);
        else if (names === undefined && !name.endsWith('.pyc')) classifyFile(rel, abs);
      } else if (stat.isSymbolicLink()) {
        classifyLink(rel, abs, base);
      } else {
        throw new TerrariumError('RELOCATE_FAILED', `cannot pack ${abs}: not a file, directory or symlink`, {
          hint: 'remove sockets, FIFOs and device files from the environment',
        });
      }
    }
  };

  // Reading every file is the cost of a faithful relocation.
  const classifyFile = (rel: string, abs: string): void => {
    const content = readFileSync(abs);
    if (content.indexOf(prefix) < 0) return;
    if (content.length > MAX_RELOCATED_BYTES) {
      result.tooLarge.push(rel);
      return;
    }
    const isBinary = content.subarray(0, 8192).includes(0);
    (isBinary ? result.binary : result.text).push(rel);
  };

  const classifyLink = (rel: string, abs: string, base: Omit<Entry, 'type'>): void => {
    const target = readlinkSync(abs);
    const absoluteTarget = path.resolve(path.dirname(abs), target);
    const inside = absoluteTarget === root || absoluteTarget.startsWith(`${root}/`);
    if (inside) {
      // Store every inside link relative, so that it follows the environment wherever it goes.
      const relative = path.relative(path.dirname(abs), absoluteTarget) || '.';
      result.entries.push({ ...base, type: 'symlink', linkname: relative });
      return;
    }
    let real: string | undefined;
    try {
      real = realpathSync(absoluteTarget);
    } catch {
      // a dangling link: kept as an external link, as it was
    }
    // Only bin/python-like names count as interpreter links (a restore points exactly those at its own interpreter).
    if (real === interpreterReal && isInterpreterLinkName(rel)) result.interpreterLinks.push(rel);
    else result.externalLinks.push({ path: rel, target: absoluteTarget });
  };

  walk('');
  return result;
}
