import { createHash } from 'node:crypto';
import { lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { MANIFEST_PATH, MAX_MANIFEST_BYTES } from '../archive/manifest.js';
import { readBoundedSync, writeFileAtomic } from '../io/fs.js';
import { TERRARIUM_DIR } from '../relocate/relocations.js';

/** What an install writes into the environment it puts in place, for the next install of the same key to find it unchanged. */
export const STATE_PATH = `${TERRARIUM_DIR}/installed.json`;
const STATE_FORMAT = 1;
const MAX_STATE_BYTES = 64 << 10;

/**
 * An installed environment as this install left it. `stamp` sums every entry's path, type, mode, size,
 * inode and mtime (and the change time, unless its files are hard links into the cache, whose link
 * count and so change time move as other environments link the same tree or the cache evicts it).
 */
export interface InstalledState {
  format: typeof STATE_FORMAT;
  key: string;
  stamp: string;
  /** Its files may be hard links into the cache's unpacked copies (it was installed with a link mode). */
  hardlinked: boolean;
  /** Built on this machine, not read from a store. */
  built: boolean;
  /** The keys trusted when it was installed from a store: any archive installed then was signed by one of them. */
  trusted: string[];
}

/** The facts of this install a stored state must agree with for the target to be left as it is. */
export interface WantedState {
  key: string;
  /** The install links from the cache (--link-mode): an environment of copies satisfies it too; without it, linked files do not. */
  linking: boolean;
  /** Ids of the keys trusted now: when any, the environment must have been built here or verified by keys all trusted now. */
  trusted: readonly string[];
}

/**
 * Why an installed state does not make the target this install's result, or undefined when it does.
 * Pure: the caller has stamped the tree again (`stampNow`) and parsed the state.
 */
export function staleReason(state: InstalledState | undefined, stampNow: string | undefined, wanted: WantedState): string | undefined {
  if (!state) return 'the target holds no record of an install';
  if (state.key !== wanted.key) return `the target holds ${state.key}`;
  if (stampNow !== state.stamp) return 'files of the target changed since it was installed';
  if (state.hardlinked && !wanted.linking) return 'the target may link files of the cache, and --link-mode none asks for copies';
  if (wanted.trusted.length && !state.built && !(state.trusted.length && state.trusted.every((id) => wanted.trusted.includes(id)))) {
    return 'the target was not installed under the keys trusted now';
  }
  return undefined;
}

/** The stamp of an environment's tree (every entry but the state file), read synchronously: one promise per lstat would cost more than the calls. */
export function stampTree(root: string, hardlinked: boolean): string {
  // One line per entry, hashed once: a hash update per entry costs more than the lstat.
  const lines = [`terrarium-stamp 1 ${hardlinked ? 'h' : 'c'}`];
  const walk = (relDir: string): void => {
    for (const name of readdirSync(path.join(root, relDir)).sort()) {
      const rel = relDir ? `${relDir}/${name}` : name;
      if (rel === STATE_PATH) continue;
      const stat = lstatSync(path.join(root, rel));
      if (stat.isDirectory()) {
        lines.push(`d ${stat.mode} ${rel}`);
        walk(rel);
      } else {
        lines.push(`e ${stat.mode} ${stat.size} ${stat.ino} ${stat.mtimeMs}${hardlinked ? '' : ` ${stat.ctimeMs}`} ${rel}`);
      }
    }
  };
  walk('');
  // Names may hold any byte but NUL: NUL separates the lines.
  return createHash('sha256').update(lines.join('\0')).digest('hex');
}

/** Records, in the environment at `root` (staging, once every write to it is done), the state the next install compares with. */
export async function recordInstalled(root: string, state: Omit<InstalledState, 'format' | 'stamp'>): Promise<void> {
  const full: InstalledState = { format: STATE_FORMAT, ...state, stamp: stampTree(root, state.hardlinked) };
  await writeFileAtomic(path.join(root, STATE_PATH), `${JSON.stringify(full, null, 2)}\n`);
}

/** The state an earlier install recorded in `root`, or undefined where there is none or it is not one this terrarium wrote. */
export function readInstalledState(root: string): InstalledState | undefined {
  const data = readJson(path.join(root, STATE_PATH), MAX_STATE_BYTES);
  if (!isRecord(data) || data.format !== STATE_FORMAT) return undefined;
  const { key, stamp, hardlinked, built, trusted } = data;
  if (typeof key !== 'string' || typeof stamp !== 'string' || typeof hardlinked !== 'boolean' || typeof built !== 'boolean') return undefined;
  if (!Array.isArray(trusted) || !trusted.every((id) => typeof id === 'string')) return undefined;
  return { format: STATE_FORMAT, key, stamp, hardlinked, built, trusted };
}

/** The key of the environment at `root`, as its manifest names it; undefined where it has none (not an environment terrarium installed). */
export function installedKey(root: string): string | undefined {
  const data = readJson(path.join(root, MANIFEST_PATH), MAX_MANIFEST_BYTES);
  return isRecord(data) && typeof data.key === 'string' ? data.key : undefined;
}

function readJson(file: string, maxBytes: number): unknown {
  try {
    return JSON.parse(readBoundedSync(file, maxBytes, { noFollow: true }).toString('utf8'));
  } catch {
    return undefined;
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
