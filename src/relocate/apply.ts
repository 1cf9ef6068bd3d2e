import { promises as fs } from 'node:fs';
import path from 'node:path';
import { TerrariumError } from '../errors.js';
import { writeFileAtomic } from '../io/fs.js';
import type { Fingerprint } from '../python/fingerprint.js';
import { MANIFEST_PATH, type Manifest } from './manifest.js';
import { makeRelocator, relocatedManifest } from './relocator.js';

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
    await writeFileAtomic(file, relocator.apply(rel, await fs.readFile(file)), stat.mode & 0o777);
    await fs.utimes(file, stat.atime, stat.mtime);
  }
  await finishRelocation(root, manifest, target, python);
}

/** The links an archive cannot carry (they name this machine's interpreter), and the manifest. */
export async function finishRelocation(root: string, manifest: Manifest, target: string, python: Fingerprint): Promise<void> {
  const relink = async (rel: string, to: string) => {
    const link = path.join(root, rel);
    await assertRealDirectories(root, path.dirname(rel));
    await fs.rm(link, { force: true });
    await fs.symlink(to, link);
  };
  for (const rel of manifest.interpreterLinks) await relink(rel, python.executable);
  for (const { path: rel, target: to } of manifest.externalLinks) await relink(rel, to);
  const manifestFile = path.join(root, MANIFEST_PATH);
  await fs.mkdir(path.dirname(manifestFile), { recursive: true });
  await writeFileAtomic(manifestFile, `${JSON.stringify(relocatedManifest(manifest, target), null, 2)}\n`);
}

/** The manifest is untrusted: a link it asks for must not be made through another link (out of the root). */
async function assertRealDirectories(root: string, relDir: string): Promise<void> {
  let current = root;
  for (const part of relDir === '.' ? [] : relDir.split('/')) {
    current = path.join(current, part);
    const stat = await fs.lstat(current).catch(() => undefined);
    if (!stat) {
      await fs.mkdir(current);
    } else if (!stat.isDirectory()) {
      throw new TerrariumError('ARCHIVE_HOSTILE', `archive manifest asks for a link under ${path.relative(root, current)}, which is not a directory`, {
        hint: 'the archive was tampered with; delete it from storage and rebuild with --no-download',
      });
    }
  }
}
