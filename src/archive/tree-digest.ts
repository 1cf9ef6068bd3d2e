import { createHash, type Hash } from 'node:crypto';
import type { Entry } from './entry.js';

/**
 * The digest of a layer's tree: its manifest's bytes (the environment layer's) and every entry as the
 * tar lists it, in order, with each file's sha256. A packer computes it from the files it writes and
 * the signed layers document carries it; an install that links the tree from the cache computes it
 * again from what it links, so that with trusted keys nothing the signature does not cover is
 * installed, whatever the cache's index of the tree says. Mtimes are left out: they decide nothing
 * that runs.
 */
export class TreeDigest {
  private readonly hash: Hash = createHash('sha256').update('terrarium-tree 1\n');

  manifest(bytes: Uint8Array): void {
    this.hash.update(`m ${sha256Hex(bytes)}\n`);
  }

  /** One entry; a file's with the sha256 of its bytes as archived. */
  entry(entry: Pick<Entry, 'path' | 'type' | 'mode' | 'size' | 'linkname'>, sha256?: string): void {
    const name = JSON.stringify(entry.path);
    const mode = entry.mode.toString(8);
    if (entry.type === 'file') this.hash.update(`f ${mode} ${entry.size} ${sha256} ${name}\n`);
    else if (entry.type === 'directory') this.hash.update(`d ${mode} ${name}\n`);
    else this.hash.update(`l ${JSON.stringify(entry.linkname)} ${name}\n`);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

export const sha256Hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
