import { posix } from 'node:path';
import type { Fingerprint } from '../python/fingerprint.js';
import type { Relocations } from './relocations.js';
import { relocateBinary, relocatePyvenvCfg, relocateShellScript, relocateText, replaceAll } from './rewrite.js';

/**
 * Files a restore rewrites are read whole into memory; larger ones are refused in an archive (and left
 * unrewritten at pack time, with a warning), so that no archive can make a restore hold gigabytes. The
 * largest seen in real environments are compiled extensions of a few MiB.
 */
export const MAX_RELOCATED_BYTES = 16 << 20;

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
  return {
    needs: (path) => path === 'pyvenv.cfg' || text.has(path) || binary.has(path),
    apply: (path, content) => {
      if (path === 'pyvenv.cfg') return Buffer.from(relocatePyvenvCfg(content.toString('utf8'), manifest.prefix, target, python));
      // Binary files keep the build path itself in a layered archive: a placeholder could be shorter than the target.
      if (binary.has(path)) return relocateBinary(content, manifest.buildPath ?? manifest.prefix, target) ?? content;
      if (!ACTIVATE.test(path)) return relocateText(content, manifest.prefix, target);
      // venv names the shell prompt after the folder it was built in (a unique staging name): a venv
      // made at the target would show the target's name.
      return replaceAll(relocateShellScript(content, manifest.prefix, target), posix.basename(manifest.prefix), posix.basename(target));
    },
  };
}
