import { promises as fs } from 'node:fs';
import path from 'node:path';
import { MANIFEST_PATH, type Manifest, relocatedManifest } from '../../archive/manifest.js';
import { TerrariumError } from '../../errors.js';
import { lstatOrMissing, writeFileAtomic } from '../../io/fs.js';
import type { Fingerprint } from '../../python/fingerprint.js';
import { interpreterTreePath, TERRARIUM_DIR } from '../../relocate/relocations.js';
import { makeRelocator } from '../../relocate/relocator.js';

/**
 * Rewrites, in place, an environment built at `manifest.prefix` (still lying there) so that it works
 * at `target`: the cold path, where the freshly built environment in staging is moved into place.
 */
export async function relocateInPlace(root: string, manifest: Manifest, target: string, python: Fingerprint): Promise<void> {
  const relocator = makeRelocator(manifest, target, python);
  for (const rel of ['pyvenv.cfg', ...manifest.text, ...manifest.binary]) {
    const file = path.join(root, rel);
    const stat = await fs.lstat(file);
    if (!stat.isFile()) continue;
    await writeFileAtomic(file, relocator.apply(rel, await fs.readFile(file)), { mode: stat.mode & 0o777 });
    await fs.utimes(file, stat.atime, stat.mtime);
  }
  await finishRelocation(root, manifest, target, python);
}

/**
 * The links an archive cannot carry (they name this machine's interpreter or its tree, or paths outside
 * the environment, restored only with --allow-outside-paths: the caller checks), and the manifest. Every
 * path comes from the manifest, which is untrusted: each is made only under real directories of root,
 * never through a link, and never in place of a directory.
 */
export async function finishRelocation(root: string, manifest: Manifest, target: string, python: Fingerprint): Promise<void> {
  const relink = async (rel: string, to: string) => {
    const link = path.join(root, rel);
    await assertRealDirectories(root, path.dirname(rel));
    const existing = await lstatOrMissing(link);
    if (existing?.isDirectory()) throw hostile(`asks for a link at ${rel}, which is a directory`);
    if (existing) await fs.unlink(link);
    await fs.symlink(to, link);
  };
  for (const rel of manifest.interpreterLinks) await relink(rel, python.executable);
  for (const { path: rel, target: to } of manifest.externalLinks) {
    const inTree = interpreterTreePath(to, manifest.python.prefix);
    await relink(rel, inTree !== undefined && python.prefix ? path.join(python.prefix, inTree) : to);
  }
  await assertRealDirectories(root, TERRARIUM_DIR);
  await writeFileAtomic(path.join(root, MANIFEST_PATH), `${JSON.stringify(relocatedManifest(manifest, target), null, 2)}\n`);
}

/** Each folder of relDir under root: made when missing, refused when it is anything but a real directory. */
async function assertRealDirectories(root: string, relDir: string): Promise<void> {
  let current = root;
  for (const part of relDir === '.' ? [] : relDir.split('/')) {
    current = path.join(current, part);
    const stat = await lstatOrMissing(current);
    if (!stat) {
      await fs.mkdir(current);
    } else if (!stat.isDirectory()) {
      throw hostile(`asks for a link under ${path.relative(root, current)}, which is not a directory`);
    }
  }
}

function hostile(why: string): TerrariumError {
  return new TerrariumError('ARCHIVE_HOSTILE', `archive manifest ${why}`, {
    hint: 'the archive was tampered with; delete it from storage and rebuild with --no-download',
  });
}
