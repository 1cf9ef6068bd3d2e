import { pathToFileURL } from 'node:url';
import type { ResolvedInputs } from '../key/inputs.js';
import { type LockedSet, lockedLine } from '../key/locked.js';

export const LOCKED_REQUIREMENTS = 'locked-requirements.txt';
export const LOCKED_LINKS = 'locked-links.html';
export const LOCKED_OWN_SOURCES = 'locked-requirements-own-sources.txt';

/** The `pip install` runs that build an environment, and the files they read. */
export interface PipPlan {
  /** Written side by side before pip runs: name -> text. */
  files: Record<string, string>;
  /** The arguments of each `pip install`, in order; a `-r` names a file of `files` or a plain file given by `plainName`. */
  installs: string[][];
  /** The first (the lock's) run again, when it fails, from the user's own index and find-links alone. */
  fallback?: string[] | undefined;
}

/**
 * Locked packages first, exactly: `--require-hashes --no-deps` on the pinned set, from the artifacts a
 * pylock.toml names (one local links page for all of them, so that pip still picks the wheel that fits
 * the interpreter, and reads the page once; beside the user's own index and find-links) or the index a
 * hashed requirements file names. Then the
 * plain requirement files, as pip reads them, on top.
 */
export function pipPlan(inputs: ResolvedInputs, plainName: (file: string) => string = (file) => file): PipPlan {
  const plain = inputs.plainFiles.flatMap((file) => ['-r', plainName(file)]);
  if (!inputs.locked) return { files: {}, installs: [plain] };
  const files = lockedFiles(inputs.locked);
  const locked = ['--require-hashes', '--no-deps', '-r'];
  const installs = [[...locked, LOCKED_REQUIREMENTS]];
  if (plain.length) installs.push(plain);
  return { files, installs, fallback: files[LOCKED_OWN_SOURCES] ? [...locked, LOCKED_OWN_SOURCES] : undefined };
}

function lockedFiles(set: LockedSet): Record<string, string> {
  const lines = ['# The lock inputs as terrarium resolved them for this interpreter.', ...set.options];
  const links = set.packages.flatMap((pkg) => pkg.locations);
  const files: Record<string, string> = {};
  if (links.length) {
    // The hash is an artifact's identity: the same file from the user's index or find-links does (a
    // mirror, a wheel folder, an air-gapped runner). Where both offer it, pip takes a mirror's (its
    // links carry the hash) but the lock's over a folder's; should the lock's host then fail, the
    // fallback run asks the user's sources alone. A lock whose artifacts are all files here needs no index.
    const local = set.packages.every((pkg) => pkg.locations.length && pkg.locations.every((location) => !location.includes('://')));
    if (!local) files[LOCKED_OWN_SOURCES] = `${[...lines, ...set.packages.map(lockedLine)].join('\n')}\n`;
    if (local) lines.push('--no-index');
    lines.push(`--find-links ${LOCKED_LINKS}`);
    files[LOCKED_LINKS] = linksPage(links);
  }
  lines.push(...set.packages.map(lockedLine));
  files[LOCKED_REQUIREMENTS] = `${lines.join('\n')}\n`;
  return files;
}

/** A find-links page (PEP 503's HTML) naming each artifact by URL; pip takes a wheel's tags from the file name. */
function linksPage(locations: string[]): string {
  const anchors = [...new Set(locations)].sort().map((location) => {
    const url = location.includes('://') ? location : pathToFileURL(location).href;
    const name = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
    return `<a href="${escapeHtml(url)}">${escapeHtml(name)}</a><br>`;
  });
  return `<!DOCTYPE html>\n<html><body>\n${anchors.join('\n')}\n</body></html>\n`;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
