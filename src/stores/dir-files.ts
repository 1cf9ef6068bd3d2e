import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { lstatOrMissing, openRegular } from '../io/fs.js';
import { inReservedFolder } from './store.js';

/** How deep a listing looks for records of keys with `/`: keys are short, and a hostile tree is not walked whole. */
const MAX_KEY_DEPTH = 8;

/**
 * The names (relative to `root`) of the files there that `wanted` picks, in folders too for keys with
 * `/`; terrarium's own folders and hidden names (temporary files) are not looked at. Throws only when
 * `root` cannot be read.
 */
export async function storeFiles(root: string, wanted: (name: string) => boolean): Promise<string[]> {
  const names: string[] = [];
  const walk = async (dir: string, prefix: string, depth: number): Promise<void> => {
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch((error: unknown) => {
      if (depth === 0) throw error;
      return [];
    });
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      if (entry.isFile() && wanted(entry.name)) names.push(prefix + entry.name);
      const inside = depth > 0 || !inReservedFolder(`${entry.name}/`);
      if (entry.isDirectory() && inside && depth < MAX_KEY_DEPTH) await walk(path.join(dir, entry.name), `${prefix}${entry.name}/`, depth + 1);
    }
  };
  await walk(root, '', 0);
  return names;
}

/** Removes the files of `names` (relative to `dir`) untouched for `graceMs`, or with `dryRun` only says which; returns them. */
export async function removeUnused(dir: string, names: readonly string[], graceMs: number, dryRun: boolean): Promise<Array<{ name: string; size: number }>> {
  const removed: Array<{ name: string; size: number }> = [];
  for (const name of names) {
    const file = path.join(dir, name);
    const stat = await lstatOrMissing(file);
    if (!stat || Date.now() - stat.mtimeMs < graceMs) continue;
    if (!dryRun) await fs.rm(file, { force: true });
    removed.push({ name, size: stat.size });
  }
  return removed;
}

/** Whether `file` is there, a regular file, and its bytes are the layer's (read no further than its size). */
export async function holds(file: string, layer: { sha256: string; size: number }): Promise<boolean> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of await openRegular(file, layer.size)) hash.update(chunk as Buffer);
  } catch {
    return false;
  }
  return hash.digest('hex') === layer.sha256;
}
