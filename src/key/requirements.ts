import path from 'node:path';
import { isErrno, TerrariumError } from '../errors.js';

/** One logical line of a requirements file: a requirement/option, or an include of another file. */
export type RequirementEntry = { kind: 'line'; text: string } | { kind: 'include'; flag: '-r' | '-c'; file: number };

export interface RequirementFile {
  /** Absolute path. */
  path: string;
  entries: RequirementEntry[];
}

export interface RequirementSet {
  /** Every file read, once each, in the order met. */
  files: RequirementFile[];
  /** Indexes into `files` of the files given on the command line, in order. */
  roots: number[];
  /** Normalised lines in reading order; lines of constraint files are prefixed with `-c `. */
  lines: string[];
}

/** Larger requirement files are refused: pip-compile output with hashes for 500 packages is about 0.5 MiB. */
export const MAX_REQUIREMENTS_FILE = 4 << 20;

/** Reads a file as text; throws Node's errno errors (ENOENT, EACCES, EISDIR...). */
export type ReadText = (absolutePath: string) => string;

const INCLUDE = /^(-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?<=^-[rc]))(\S.*)$/;
const COMMENT = /(^|\s+)#.*$/;
const COMMENT_LINE = /^\s*#/;

/** Joins `\` continuations, drops comments and blank lines, strips whitespace (pip's own order). */
export function logicalLines(text: string): string[] {
  const joined: string[] = [];
  let pending = '';
  for (const raw of text.split(/\r?\n/)) {
    if (raw.endsWith('\\') && !COMMENT_LINE.test(raw)) {
      pending += raw.slice(0, -1);
      continue;
    }
    // A comment ending a continuation is kept apart so it is still recognised as a comment.
    joined.push(pending + (pending && COMMENT_LINE.test(raw) ? ` ${raw}` : raw));
    pending = '';
  }
  if (pending) joined.push(pending);
  return joined.map((line) => line.replace(COMMENT, '').trim()).filter((line) => line.length > 0);
}

function parseInclude(line: string): { flag: '-r' | '-c'; target: string } | undefined {
  const match = INCLUDE.exec(line);
  if (!match) return undefined;
  const flag = match[1] === '-c' || match[1] === '--constraint' ? '-c' : '-r';
  return { flag, target: match[2]!.trim() };
}

/**
 * Reads requirement files and every file they include (`-r`, `-c`, relative to the including file),
 * refusing cycles and remote includes. Pure apart from `read`, so it is tested with an in-memory map.
 */
export function parseRequirementFiles(givenPaths: string[], cwd: string, read: ReadText): RequirementSet {
  const files: RequirementFile[] = [];
  const indexByPath = new Map<string, number>();
  const lines: string[] = [];

  const visit = (absolute: string, stack: string[], constraint: boolean, includedFrom?: string): number => {
    if (stack.includes(absolute)) {
      const chain = [...stack.slice(stack.indexOf(absolute)), absolute].map((p) => path.relative(cwd, p) || p);
      throw new TerrariumError('REQUIREMENTS_INCLUDE_CYCLE', `requirements include cycle: ${chain.join(' -> ')}`, {
        hint: 'remove the -r/-c line that points back to an including file',
      });
    }
    // A file met again (a diamond of includes) adds nothing new: pip would read the same lines twice.
    const seen = indexByPath.get(absolute);
    if (seen !== undefined) return seen;
    const text = readInput(read, absolute, cwd, includedFrom);
    const index = files.length;
    const file: RequirementFile = { path: absolute, entries: [] };
    indexByPath.set(absolute, index);
    files.push(file);
    for (const line of logicalLines(text)) {
      const include = parseInclude(line);
      if (!include) {
        file.entries.push({ kind: 'line', text: line });
        lines.push(constraint ? `-c ${line}` : line);
        continue;
      }
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(include.target)) {
        throw new TerrariumError('REQUIREMENTS_REMOTE_INCLUDE', `${rel(cwd, absolute)} includes a URL: ${include.target}`, {
          hint: 'download the file and include it by path, so that its contents are part of the key',
        });
      }
      const child = path.resolve(path.dirname(absolute), include.target);
      const childIndex = visit(child, [...stack, absolute], constraint || include.flag === '-c', absolute);
      file.entries.push({ kind: 'include', flag: include.flag, file: childIndex });
    }
    return index;
  };

  const roots = givenPaths.map((given) => visit(path.resolve(cwd, given), [], false));
  return { files, roots, lines };
}

/** A path as messages show it: relative to the working directory when inside it. */
export function rel(cwd: string, p: string): string {
  const relative = path.relative(cwd, p);
  return relative.startsWith('..') ? p : relative || p;
}

/** Reads one input file, wording every way it cannot be read (missing, a directory, a FIFO, too large). */
export function readInput(read: ReadText, file: string, cwd: string, includedFrom?: string): string {
  try {
    return read(file);
  } catch (error) {
    throw readError(error, file, includedFrom, cwd);
  }
}

function readError(error: unknown, file: string, includedFrom: string | undefined, cwd: string): TerrariumError {
  const name = rel(cwd, file);
  const where = includedFrom ? ` (included from ${rel(cwd, includedFrom)})` : '';
  if (isErrno(error, 'ENOENT', 'ENOTDIR')) {
    return new TerrariumError(includedFrom ? 'REQUIREMENTS_INCLUDE_MISSING' : 'REQUIREMENTS_MISSING', `requirements file not found: ${name}${where}`, {
      hint: includedFrom ? 'fix the -r/-c path; it is relative to the including file' : 'check the path of the requirements file',
    });
  }
  const reason = isErrno(error, 'EISDIR')
    ? 'is a directory'
    : isErrno(error, 'ENOTREG')
      ? 'is not a regular file (a device, FIFO or socket)'
      : isErrno(error, 'EFBIG')
        ? `is larger than ${MAX_REQUIREMENTS_FILE >> 20} MiB`
        : `cannot be read (${(error as NodeJS.ErrnoException).code ?? error})`;
  return new TerrariumError('REQUIREMENTS_UNREADABLE', `requirements file ${name}${where} ${reason}`, {
    hint: 'pass a readable regular requirements file (write generated requirements to a file first)',
  });
}
