import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isErrno } from '../errors.js';
import { lstatOrMissing, parseSiblingName, removeTree } from './fs.js';
import { ownerGone } from './owner.js';

/**
 * Removes the siblings (staging directories, set-aside environments, temporary files) that processes
 * which no longer run left in `dir`. Only names made by siblingPath are considered, and only those
 * belonging to one of `owners` (base names) when given, so nothing else in the directory is touched.
 */
export async function removeLeftovers(dir: string, owners?: readonly string[]): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (error) {
    if (isErrno(error, 'ENOENT', 'ENOTDIR')) return [];
    throw error;
  }
  const removed: string[] = [];
  for (const name of names) {
    const sibling = parseSiblingName(name);
    if (!sibling || (owners && !owners.includes(sibling.of))) continue;
    const file = path.join(dir, name);
    const stat = await lstatOrMissing(file);
    if (!stat || !ownerGone(sibling, stat.mtime)) continue;
    // Best effort: a tree that cannot be removed now (a process of the dead run still writing into it,
    // a file this user may not remove) is tried again by the next run; it never stops this one.
    const gone = await removeTree(file).then(
      () => true,
      () => false,
    );
    if (gone) removed.push(file);
  }
  return removed;
}
