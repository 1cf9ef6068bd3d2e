import type { LinkMethod } from '../io/file-ops.js';

/** The messages between a TreeWriter and its worker threads (tree-writer-worker.js), and the entries they write. */
export type Op =
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'file'; path: string; mode: number; mtime: number; offset: number; length: number; rewritten?: { offset: number; length: number } }
  | { kind: 'begin'; path: string; mode: number }
  | { kind: 'chunk'; offset: number; length: number }
  | { kind: 'end'; mtime: number }
  | { kind: 'link'; path: string; mtime: number };

/** Operations and the bytes they write, sent to the worker in one message (the buffer is transferred, not copied). */
export interface Batch {
  ops: Op[];
  data: ArrayBuffer;
}

/**
 * The batch's buffer comes back with the reply, to be filled again: fresh memory costs a page fault per
 * 4 KiB. `method` says how files were put into the root from the kept copy (once probed).
 */
export type WriterReply =
  | { data: ArrayBuffer; ok: true; method?: LinkMethod | undefined; ms: number }
  | { data: ArrayBuffer; ok: false; error?: { message: string; code?: string | undefined; path?: string | undefined } };

/** Files and bytes handled so far, updated as a tree is packed or unpacked (for a progress line). */
export interface TreeProgress {
  files: number;
  bytes: number;
}

/**
 * A second, pristine copy of the tree (kept in the cache): files land there and are linked into root.
 * `existing`: the copy is complete already (a repeat install in link mode); root gets links of its
 * files (`link`), folders and symlinks of its own, and new files only for those rewritten (`file`).
 */
export interface KeptCopy {
  root: string;
  method: LinkMethod;
  existing?: boolean;
}

/** The first message a writer's thread gets: it may have been started before its root was known. */
export interface WriterSetup {
  root: string;
  keep?: KeptCopy | undefined;
  /** The kept copy's root when this run writes it (not `existing`): everything goes there too. */
  copy: string | undefined;
}
