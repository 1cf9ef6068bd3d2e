import path from 'node:path';

/** What names the environment's path, and so must be rewritten or re-pointed wherever it goes (recorded in every archive's manifest). */
export interface Relocations {
  /** Text files holding the prefix: rewritten on restore (scripts get a fitting header). */
  text: string[];
  /** Binary files holding the prefix (besides .pyc, which CPython corrects on import): rewritten where the new prefix fits. */
  binary: string[];
  /** Symlinks to the base interpreter: re-pointed at the local interpreter on restore. */
  interpreterLinks: string[];
  /** Symlinks to absolute paths outside the environment, recreated as they were (with --allow-outside-paths). */
  externalLinks: Array<{ path: string; target: string }>;
}

/** terrarium's own folder inside an environment; rewritten at every pack and restore, never scanned. */
export const TERRARIUM_DIR = '.terrarium';

/**
 * Names an interpreter link may have: venv and virtualenv link bin/python, pythonN or pythonN.M (a
 * free-threaded build adds `t`) to the base interpreter. Where they point is never read from an
 * archive: restores point them at the local interpreter.
 */
const INTERPRETER_LINK = /^bin\/(?:python|pypy)(?:\d+(?:\.\d+)?t?)?$/;

export const isInterpreterLinkName = (rel: string): boolean => INTERPRETER_LINK.test(rel);

/** The external links that lie outside the base interpreter's tree too: those that need --allow-outside-paths. */
export function outsideLinks(links: Relocations['externalLinks'], prefix: string | undefined): Relocations['externalLinks'] {
  return links.filter((link) => interpreterTreePath(link.target, prefix) === undefined);
}

/**
 * Where an external link's target lies inside the base interpreter's installation (`prefix`), as a
 * path relative to it, or undefined when it lies elsewhere. virtualenv's Python 2 environments link
 * parts of the standard library (`lib/python2.7/os.py`, `lib-dynload`, `include/python2.7`) into the
 * interpreter's tree: such links follow the interpreter, re-pointed into the local one's tree on restore.
 */
export function interpreterTreePath(target: string, prefix: string | undefined): string | undefined {
  if (!prefix || prefix === '/' || !target.startsWith(`${prefix}/`)) return undefined;
  const rest = path.posix.normalize(target.slice(prefix.length + 1));
  return rest === '..' || rest.startsWith('../') || rest.startsWith('/') ? undefined : rest;
}
