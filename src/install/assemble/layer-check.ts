import type { Entry } from '../../archive/entry.js';
import { normaliseName } from '../../key/markers.js';
import type { Wanted } from './find-layers.js';

/** What a `.dist-info` folder holds that pip writes for one environment: an assembly writes these itself, a layer never carries them. */
const ENVIRONMENT_OWNED = /\.dist-info\/(RECORD|REQUESTED|direct_url\.json)$/;

/** Paths a distribution never installs: the environment's own files, the interpreter's links, another Python's folders. */
function outsideDistribution(file: string, siteRel: string): boolean {
  if (!file.includes('/') || file.startsWith('.terrarium/') || /^bin\/(python|activate|Activate)/.test(file)) return true;
  return (file.startsWith('lib/') && !file.startsWith(`${siteRel}/`)) || file.startsWith('lib64/') || file.startsWith('include/python');
}

/**
 * Whether a restored layer is the install of `wanted` in this environment, whatever its record said:
 * its one `.dist-info` folder in this interpreter's site-packages, whose METADATA names the wanted
 * distribution and version; only files a distribution installs, no symlink, nothing its archive's
 * manifest rewrites in binary data. Returns the `.dist-info` folder, or why not.
 */
export function layerProblem(
  entries: readonly Entry[],
  wanted: Pick<Wanted, 'dist' | 'version'>,
  context: { siteRel: string; binary: ReadonlySet<string>; metadata: (distInfo: string) => string },
): { problem?: string; distInfo?: string } {
  const infos = new Set<string>();
  for (const entry of entries) {
    if (entry.type === 'directory') continue;
    if (entry.type !== 'file') return { problem: `it holds a link (${entry.path})` };
    if (outsideDistribution(entry.path, context.siteRel)) return { problem: `it holds ${entry.path}, which no distribution installs` };
    if (context.binary.has(entry.path)) return { problem: `${entry.path} names its build path in binary data` };
    if (ENVIRONMENT_OWNED.test(entry.path)) return { problem: `it holds ${entry.path}` };
    const info = /^(.+\.dist-info)\/[^/]+$/.exec(entry.path)?.[1];
    if (info) infos.add(info);
  }
  const [distInfo, other] = [...infos];
  if (!distInfo || other !== undefined || !distInfo.startsWith(`${context.siteRel}/`) || distInfo.slice(context.siteRel.length + 1).includes('/'))
    return { problem: `it does not hold one .dist-info folder in ${context.siteRel}` };
  let metadata: string;
  try {
    metadata = context.metadata(distInfo);
  } catch {
    return { problem: `${distInfo} has no readable METADATA` };
  }
  const name = header(metadata, 'Name');
  const version = header(metadata, 'Version');
  if (name === undefined || normaliseName(name) !== wanted.dist || version !== wanted.version)
    return { problem: `it installs ${name ?? '?'} ${version ?? '?'}, not ${wanted.dist} ${wanted.version}` };
  return { distInfo };
}

/** A header of a METADATA file (RFC 822 style, headers before the first empty line). */
function header(text: string, name: string): string | undefined {
  for (const line of text.split(/\r?\n/)) {
    if (line === '') return undefined;
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).toLowerCase() === name.toLowerCase()) return line.slice(colon + 1).trim();
  }
  return undefined;
}
