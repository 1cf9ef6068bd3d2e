import type { LinkMethod } from '../io/file-ops.js';

/** The messages between a TreeWriter and its worker threads (tree-writer-worker.js), and the entries they write. */
export type Op =
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'file'; path: string; mode: number; mtime: number; offset: number; length: number; rewritten?: { offset: number; length: number } }
  | { kind: 'begin'; path: string; mode: number }
  | { kind: 'chunk'; offset: number; length: number }
  | { kind: 'end'; mtime: number }
  | { kind: 'link'; path: string; mtime: number };

/**
 * Operations and the bytes they write, sent to the worker in one message (the buffer is transferred, not
 * copied). `unpacked`: the pristine copy these operations go to or link from (one per layer of an archive).
 */
export interface Batch {
  ops: Op[];
  data: ArrayBuffer;
  unpacked: UnpackedCopy | undefined;
}

/**
 * The batch's buffer comes back with the reply, to be filled again: fresh memory costs a page fault per
 * 4 KiB. `method` says how files were put into the root from the unpacked copy (once probed).
 */
export type WriterReply = { data: ArrayBuffer; ok: true; method?: LinkMethod | undefined; ms: number } | { data: ArrayBuffer; ok: false; error?: WriterError };

/** A failure on a writer's thread; `unpacked`: the existing unpacked copy the batch linked from. */
export interface WriterError {
  message: string;
  code?: string | undefined;
  path?: string | undefined;
  unpacked?: string | undefined;
}

/** Files and bytes handled so far, updated as a tree is packed or unpacked (for a progress line). */
export interface TreeProgress {
  files: number;
  bytes: number;
}

/**
 * A second, pristine copy of (part of) the tree, unpacked in the cache: files land there and are linked into
 * root. `existing`: the copy is complete already (a repeat install in link mode); root gets links of its
 * files (`link`), folders and symlinks of its own, and new files only for those rewritten (`file`).
 */
export interface UnpackedCopy {
  root: string;
  existing: boolean;
}

/** The first message a writer's thread gets: it may have been started before its root was known. */
export interface WriterSetup {
  root: string;
  /** How files are put into root from a unpacked copy (the first one tried; the worker falls back). */
  method: LinkMethod | undefined;
}
