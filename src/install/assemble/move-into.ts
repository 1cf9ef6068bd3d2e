import { promises as fs } from 'node:fs';
import path from 'node:path';
import { lstatOrMissing } from '../../io/fs.js';

/**
 * Moves everything under `from` into `to` (same file system): a folder `to` lacks is renamed whole, one
 * it has is entered. Nothing is replaced: the caller checked that no file of `from` is in `to`, and a
 * race that put one there is an error (rename would replace it, so a file is linked, then unlinked).
 */
export async function moveInto(from: string, to: string): Promise<void> {
  for (const entry of await fs.readdir(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const destination = path.join(to, entry.name);
    const there = await lstatOrMissing(destination);
    if (entry.isDirectory() && there?.isDirectory()) await moveInto(source, destination);
    else if (entry.isDirectory() && !there) await fs.rename(source, destination);
    else {
      await fs.link(source, destination);
      await fs.unlink(source);
    }
  }
}
