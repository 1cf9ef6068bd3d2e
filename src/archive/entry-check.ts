import path from 'node:path';
import { TerrariumError } from '../errors.js';
import type { Entry } from './entry.js';
import type { TarHeader } from './tar-parse.js';

/** A header as read, before any check: any field but the name may be missing or wrong. */
export type EntryHeader = Pick<TarHeader, 'name'> & { [K in 'type' | 'mode' | 'linkname' | 'size' | 'mtime']?: TarHeader[K] | null | undefined };

const SPECIAL_BITS = 0o7000;

function hostile(name: string, why: string): TerrariumError {
  return new TerrariumError('ARCHIVE_HOSTILE', `archive entry ${JSON.stringify(name)} rejected: ${why}`, {
    hint: 'the archive was not made by terrarium or was tampered with; delete it from storage and rebuild with --no-download',
  });
}

/** What a name needs for normalizeEntryPath to change or refuse it: an empty, `.` or `..` part, or a NUL. */
const NOT_NORMAL = /(?:^|\/)\.{0,2}(?:\/|$)|\0/;

/** A relative path inside the root, or an error: no absolute paths, no `..`, no NUL, nothing empty. */
export function normalizeEntryPath(name: unknown): string {
  // Every entry of an archive passes here: most are normal already, and one regex test says so.
  if (typeof name === 'string' && !NOT_NORMAL.test(name)) return name;
  if (typeof name !== 'string' || name.length === 0) throw hostile(String(name), 'empty name');
  if (name.includes('\0')) throw hostile(name, 'NUL byte in name');
  if (name.startsWith('/')) throw hostile(name, 'absolute path');
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.includes('..')) throw hostile(name, '".." in path');
  if (parts.length === 0) throw hostile(name, 'names the root itself');
  return parts.join('/');
}

/**
 * Checks tar entries one by one before anything is written. Stateful only to remember the symlinks
 * seen, so that no later entry is written through one of them (the classic symlink-then-file escape).
 */
export class EntryGuard {
  private readonly symlinks = new Set<string>();

  check(header: EntryHeader): Entry {
    const entryPath = normalizeEntryPath(header.name);
    const mode = header.mode ?? 0o644;
    const mtime = header.mtime ?? 0;
    if (mode & SPECIAL_BITS) throw hostile(header.name, `setuid/setgid/sticky mode ${mode.toString(8)}`);
    for (let slash = entryPath.indexOf('/'); ; slash = entryPath.indexOf('/', slash + 1)) {
      const ancestor = slash === -1 ? entryPath : entryPath.slice(0, slash);
      if (this.symlinks.has(ancestor)) throw hostile(header.name, slash === -1 ? 'replaces a symlink' : `lies under the symlink ${ancestor}`);
      if (slash === -1) break;
    }
    switch (header.type) {
      case 'file':
      case 'contiguous-file':
        return { path: entryPath, type: 'file', mode: mode & 0o777, mtime, size: header.size ?? 0 };
      case 'directory':
        return { path: entryPath, type: 'directory', mode: mode & 0o777, mtime, size: 0 };
      case 'symlink': {
        const target = header.linkname ?? '';
        if (!target || target.includes('\0')) throw hostile(header.name, 'symlink without a target');
        if (path.posix.isAbsolute(target)) throw hostile(header.name, `symlink to an absolute path (${target})`);
        const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(entryPath), target));
        if (resolved === '..' || resolved.startsWith('../')) throw hostile(header.name, `symlink leaves the environment (${target})`);
        // `..` only at the start climbs real parent directories (entries never lie under a symlink), so the
        // lexical check above is also the physical truth; `..` after a name could climb out of a link.
        const steps = target.split('/');
        if (steps.slice(steps.findIndex((step) => step !== '..')).includes('..')) {
          throw hostile(header.name, `symlink target has ".." after a name (${target})`);
        }
        this.symlinks.add(entryPath);
        return { path: entryPath, type: 'symlink', mode: 0o777, mtime, size: 0, linkname: target };
      }
      default:
        throw hostile(header.name, `unsupported entry type ${header.type ?? 'unknown'} (only files, directories and symlinks)`);
    }
  }
}
