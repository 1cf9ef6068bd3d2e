import { posix } from 'node:path';
import { TerrariumError } from '../errors.js';
import type { Fingerprint } from '../python/fingerprint.js';
import type { Relocations } from './relocations.js';
import { relocateBinary, relocatePyvenvCfg, relocateShellScript, relocateText, replaceAll } from './rewrite.js';

/**
 * Files a restore rewrites are read whole into memory; larger ones are refused in an archive (and left
 * unrewritten at pack time, with a warning), so that no archive can make a restore hold gigabytes. The
 * largest seen in real environments are compiled extensions of a few MiB.
 */
export const MAX_RELOCATED_BYTES = 16 << 20;

/**
 * What rewriting may add to the files it rewrites, per file and in all: a path longer than the one
 * archived, once per occurrence. Real environments name their prefix a few times per script (a
 * 4,096-byte target in 2,000 scripts adds 8 MiB); an archive whose files are full of it would make
 * a restore write and hold many times the archive (15 MiB of placeholders and a 1,000-character target:
 * 375 MiB per file).
 */
export const MAX_GROWTH = { file: 1 << 20, total: 64 << 20 };

const ACTIVATE = /^bin\/activate(\.csh|\.fish)?$/;

export interface Relocator {
  needs(path: string): boolean;
  apply(path: string, content: Buffer): Buffer;
}

/** Decides, per file, how an environment built at `manifest.prefix` is moved to `target` for `python`. */
export function makeRelocator(
  manifest: Pick<Relocations, 'text' | 'binary'> & { prefix: string; buildPath?: string | undefined },
  target: string,
  python: Fingerprint,
): Relocator {
  const text = new Set(manifest.text);
  const binary = new Set(manifest.binary);
  let grown = 0;
  /** Refuses, before it is made, a rewrite that would grow beyond MAX_GROWTH; counts what it adds. */
  const bounded = (path: string, content: Buffer, pairs: Array<[string, string]>, rewrite: () => Buffer): Buffer => {
    const growth = pairs.reduce((sum, [from, to]) => sum + occurrences(content, from) * Math.max(0, Buffer.byteLength(to) - Buffer.byteLength(from)), 0);
    if (growth > MAX_GROWTH.file || grown + growth > MAX_GROWTH.total) {
      throw new TerrariumError('ARCHIVE_HOSTILE', `archive lists ${path} for rewriting, which would grow it by ${growth} bytes for this target`, {
        hint: 'no environment names its own path that often: the archive was not made by terrarium or was tampered with; it is removed and rebuilt without --require-download',
      });
    }
    const rewritten = rewrite();
    grown += Math.max(0, rewritten.length - content.length);
    return rewritten;
  };
  return {
    needs: (path) => path === 'pyvenv.cfg' || text.has(path) || binary.has(path),
    apply: (path, content) => {
      if (path === 'pyvenv.cfg') return Buffer.from(relocatePyvenvCfg(content.toString('utf8'), manifest.prefix, target, python));
      // Binary files keep the build path itself in a layered archive: a placeholder could be shorter than the target.
      if (binary.has(path)) return relocateBinary(content, manifest.buildPath ?? manifest.prefix, target) ?? content;
      const moved: [string, string] = [manifest.prefix, target];
      if (!ACTIVATE.test(path)) return bounded(path, content, [moved], () => relocateText(content, manifest.prefix, target));
      // venv names the shell prompt after the folder it was built in (a unique staging name): a venv
      // made at the target would show the target's name.
      const names: [string, string] = [posix.basename(manifest.prefix), posix.basename(target)];
      return bounded(path, content, [moved, names], () => replaceAll(relocateShellScript(content, manifest.prefix, target), ...names));
    },
  };
}

function occurrences(content: Buffer, text: string): number {
  const needle = Buffer.from(text);
  if (needle.length === 0) return 0;
  let count = 0;
  for (let at = content.indexOf(needle); at >= 0; at = content.indexOf(needle, at + needle.length)) count++;
  return count;
}
