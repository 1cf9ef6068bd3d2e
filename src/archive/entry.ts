/** The kinds of entry an environment holds; an archive with any other kind is refused. */
export type EntryType = 'file' | 'directory' | 'symlink';

/**
 * One entry of an environment tree: the same record from the scan of a built environment, through the
 * tar header written for it and the entry check of an archive read back, to the index of an unpacked
 * copy (as conda-pack's single file record). Each step reads what the one before it filled in.
 */
export interface Entry {
  /** Relative to the environment root, `/`-separated and normalised. */
  path: string;
  type: EntryType;
  /** Permission bits only (setuid, setgid and sticky are refused, not stripped). */
  mode: number;
  /** Milliseconds since the epoch; tar keeps whole seconds, and so do the checks that compare them. */
  mtime: number;
  /** A file's bytes; 0 for the other kinds. */
  size: number;
  /** Symlinks only: relative, and inside the environment. */
  linkname?: string | undefined;
  /** Files a restore rewrites, in an unpacked copy's index: the sha256 of what was written. */
  sha256?: string | undefined;
  /** Files in an unpacked copy's index: the inode they were committed as. */
  ino?: number | undefined;
}
