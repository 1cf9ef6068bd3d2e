import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isErrno } from '../errors.js';
import { statOrMissing } from '../io/fs.js';
import type { OutsidePath } from '../report/events.js';

const inside = (root: string, p: string) => p === root || p.startsWith(`${root}/`);

/**
 * Finds what an archive cannot carry: `.pth` lines and `.egg-link` files naming directories outside
 * the environment, and editable installs recorded in `direct_url.json` (what `pip install -e` leaves).
 */
export async function findOutsidePaths(root: string): Promise<OutsidePath[]> {
  const found: OutsidePath[] = [];
  for (const siteDir of await siteDirs(root)) {
    const names = await fs.readdir(siteDir);
    const owners = await recordOwners(siteDir, names);
    const rel = (name: string) => path.relative(root, path.join(siteDir, name));
    for (const name of names) {
      if (name.endsWith('.pth') || name.endsWith('.egg-link')) {
        const text = await fs.readFile(path.join(siteDir, name), 'utf8').catch(() => '');
        const lines = name.endsWith('.egg-link') ? text.split('\n').slice(0, 1) : text.split('\n');
        for (const line of lines.map((l) => l.trim())) {
          if (!line.startsWith('/') || inside(root, path.normalize(line))) continue;
          found.push({
            file: rel(name),
            target: line,
            distribution: owners.get(name) ?? (name.endsWith('.egg-link') ? name.slice(0, -'.egg-link'.length) : undefined),
          });
        }
      } else if (name.endsWith('.dist-info')) {
        const text = await fs.readFile(path.join(siteDir, name, 'direct_url.json'), 'utf8').catch(() => undefined);
        if (!text) continue;
        try {
          const info = JSON.parse(text) as { url?: string; dir_info?: { editable?: boolean } };
          const target = info.url?.startsWith('file://') ? decodeURIComponent(new URL(info.url).pathname) : undefined;
          if (info.dir_info?.editable && target && !inside(root, target)) {
            found.push({ file: rel(`${name}/direct_url.json`), target, distribution: distributionOf(name) });
          }
        } catch {
          // Not JSON: not pip's, not ours to judge.
        }
      }
    }
  }
  return found;
}

async function siteDirs(root: string): Promise<string[]> {
  const lib = path.join(root, 'lib');
  let versions: string[];
  try {
    versions = await fs.readdir(lib);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return [];
    throw error;
  }
  const dirs: string[] = [];
  for (const version of versions.filter((v) => v.startsWith('python'))) {
    const dir = path.join(lib, version, 'site-packages');
    if ((await statOrMissing(dir))?.isDirectory()) dirs.push(dir);
  }
  return dirs;
}

/** Which distribution's RECORD lists each top-level file of site-packages. */
async function recordOwners(siteDir: string, names: string[]): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  for (const name of names.filter((n) => n.endsWith('.dist-info'))) {
    const record = await fs.readFile(path.join(siteDir, name, 'RECORD'), 'utf8').catch(() => '');
    for (const line of record.split('\n')) {
      const file = line.split(',')[0] ?? '';
      if (file && !file.includes('/')) owners.set(file, distributionOf(name));
    }
  }
  return owners;
}

/** `terra_outside-1.0.dist-info` is terra-outside (wheels escape "-" in names as "_"). */
function distributionOf(distInfo: string): string {
  return distInfo
    .replace(/\.dist-info$/, '')
    .replace(/-[^-]+$/, '')
    .replace(/_/g, '-');
}
