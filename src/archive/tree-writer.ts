import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { type LinkMethod, makeDirectory, pathUnder } from '../io/file-ops.js';
import type { Batch, Op, UnpackedCopy, WriterSetup } from './writer-protocol.js';
import { errnoError, startWorker, takeWorker, WriterThread } from './writer-thread.js';

const BATCH_BYTES = 4 << 20;
const BATCH_OPS = 512;
/** Batches written or waiting in the threads: bounds memory at about this many times BATCH_BYTES. */
const IN_FLIGHT = 6;
/**
 * At most this many threads write. A second one joins when the first one's batches show that the disk,
 * not the CPU, is the limit: there two threads write nearly twice as fast as one (three: no better);
 * where the CPU is the limit (a fast disk, a RAM disk), a second thread only takes CPU time from the
 * decompression and makes installs slower (docs/benchmark.md).
 */
const MAX_WRITERS = 2;
/**
 * Time per operation above which a batch counts as slowed by the disk: between what a RAM disk and a
 * throttled disk take (docs/benchmark.md). Two such batches in a row bring in the second thread. (The thread's own CPU time does not tell the two
 * apart: on this virtual machine the slow disk's time is spent in the kernel, not asleep.)
 */
const DISK_BOUND_MS_PER_OP = 0.15;
const SLOW_BATCHES = 2;

/**
 * Writes a tree under `root` on worker threads. Paths are relative and already checked; every file is
 * created with O_EXCL. Folders are made at once, on the calling thread, so that files (spread over the
 * threads batch by batch) always find theirs; a file streamed over several batches stays on one thread.
 * Failures surface on a later call or on `finish`, as the first file system error (with its errno
 * code). With a unpacked copy (`unpackIn`), files are also written there as given, and root gets links
 * (clones, copies) of them, except for rewritten files; or, with an existing copy, root links its files.
 */
export class TreeWriter {
  private readonly threads: WriterThread[];
  /** What every thread is told first. */
  private readonly setup: WriterSetup;
  /** The unpacked copy the next operations go to or link from. */
  private unpacked: UnpackedCopy | undefined;
  /** Folders made so far in the unpacked copy being written. */
  private copyDirs = new Set<string>();
  /** The thread to take the next batch. */
  private next = 0;
  /** Batches in a row that the disk slowed down. */
  private slowBatches = 0;
  private ops: Op[] = [];
  private data: Uint8Array<ArrayBuffer> = new Uint8Array(BATCH_BYTES);
  private used = 0;
  private readonly spare: Array<Uint8Array<ArrayBuffer>> = [];
  private inFlight: Array<Promise<void>> = [];
  private failure: Error | undefined;
  /** Set once finishing or aborting has begun: no thread joins after that (it would never be stopped, and would keep the process alive). */
  private stopping = false;
  /** The file being written by open/write/close. */
  private current: { path: string; mode: number; streamed: boolean; offset: number } | undefined;
  /** How files went from the unpacked copy into root (the method the file system accepted). */
  method: LinkMethod | undefined;

  /**
   * `method`: how to put files of a unpacked copy into root, the first one tried; `threads`: how many to
   * start with (more join, up to MAX_WRITERS, when the disk is the limit).
   */
  constructor(root: string, { method, threads = 1 }: { method?: LinkMethod | undefined; threads?: number } = {}) {
    this.setup = { root, method };
    this.threads = [this.thread(takeWorker())];
    while (this.threads.length < threads) this.threads.push(this.thread(startWorker()));
  }

  /**
   * The unpacked copy the operations from here on write to (`existing` false: a new, empty folder) or link
   * from; undefined for none. Called between files.
   */
  unpackIn(unpacked: UnpackedCopy | undefined): void {
    this.send();
    this.unpacked = unpacked;
    this.copyDirs = new Set(['.']);
  }

  dir(rel: string, mode: number): void {
    if (this.failure) throw this.failure;
    makeDirectory(pathUnder(this.setup.root, rel), mode);
    if (this.unpacked && !this.unpacked.existing) {
      makeDirectory(pathUnder(this.unpacked.root, rel), mode);
      this.copyDirs.add(rel);
    }
  }

  symlink(rel: string, target: string): void {
    this.copyParents(rel);
    this.push({ kind: 'symlink', path: rel, target });
  }

  /** A file of the existing unpacked copy, linked (cloned, copied) into root. */
  link(path: string, mtime: number): void {
    this.push({ kind: 'link', path, mtime });
  }

  /**
   * A whole file given at once. `rewritten`: what root gets instead (the unpacked copy gets `content`), for
   * relocated files.
   */
  file(path: string, mode: number, mtime: number, content: Uint8Array, rewritten?: Uint8Array): void {
    if (rewritten) {
      this.copyParents(path);
      const offset = this.append(content, content.length + rewritten.length);
      const second = this.append(rewritten, rewritten.length);
      this.push({ kind: 'file', path, mode, mtime, offset, length: content.length, rewritten: { offset: second, length: rewritten.length } });
      return;
    }
    this.open(path, mode, content.length);
    this.write(content);
    this.close(mtime);
  }

  /**
   * A file whose content follows in pieces (`write`, then `close`), copied straight into the batch as
   * it comes. One that fits in a batch travels in one; a larger one is streamed in batch-sized chunks.
   */
  open(path: string, mode: number, size: number): void {
    this.copyParents(path);
    if (size > BATCH_BYTES) {
      // Set first: the batch that carries `begin` may leave at once, and must pin its thread.
      this.current = { path, mode, streamed: true, offset: 0 };
      this.push({ kind: 'begin', path, mode });
      return;
    }
    if (this.used + size > this.data.length) this.send();
    this.current = { path, mode, streamed: false, offset: this.used };
  }

  write(bytes: Uint8Array): void {
    if (!this.current!.streamed) {
      this.append(bytes, bytes.length);
      return;
    }
    for (let at = 0; at < bytes.length; ) {
      if (this.used === this.data.length) this.send();
      const piece = bytes.subarray(at, at + this.data.length - this.used);
      const offset = this.append(piece, piece.length);
      this.push({ kind: 'chunk', offset, length: piece.length });
      at += piece.length;
    }
  }

  close(mtime: number): void {
    const { path, mode, streamed, offset } = this.current!;
    this.current = undefined;
    if (streamed) this.push({ kind: 'end', mtime });
    else this.push({ kind: 'file', path, mode, mtime, offset, length: this.used - offset });
  }

  /**
   * Resolves once few enough batches are in flight to take more: callers wait here between pieces of
   * input, which bounds memory at about IN_FLIGHT batches. Throws the first failure.
   */
  async ready(): Promise<void> {
    while (this.inFlight.length > IN_FLIGHT) await this.inFlight.shift();
    if (this.failure) throw this.failure;
  }

  /** Waits until everything is written, then stops the threads; throws the first failure. */
  async finish(): Promise<void> {
    try {
      this.send();
      await Promise.all(this.inFlight);
      if (this.failure) throw this.failure;
    } finally {
      this.stopping = true;
      await Promise.all(this.threads.map((thread) => thread.stop()));
    }
  }

  /** Stops at once: once this resolves, nothing more is written (a call already running completes first). */
  async abort(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.threads.map((thread) => thread.stop()));
  }

  /** Copies `bytes` into the batch; `room`: bytes that must fit in the same batch (a file and its rewritten form travel together). */
  private append(bytes: Uint8Array, room: number): number {
    if (this.used + room > this.data.length) {
      // Never in the middle of a file being written into the batch: open() made room for all of it.
      if (this.current && !this.current.streamed) throw new Error('file content beyond its size');
      this.send();
    }
    if (room > this.data.length) this.data = new Uint8Array(room);
    const offset = this.used;
    this.data.set(bytes, offset);
    this.used += bytes.length;
    return offset;
  }

  /**
   * A layer's unpacked copy holds only that layer's files: the folders they are in are made there as they
   * come (in root, the environment's layer made them, with their modes).
   */
  private copyParents(rel: string): void {
    if (!this.unpacked || this.unpacked.existing) return;
    const dir = path.posix.dirname(rel);
    if (this.copyDirs.has(dir)) return;
    this.copyParents(dir);
    makeDirectory(pathUnder(this.unpacked.root, dir), 0o755);
    this.copyDirs.add(dir);
  }

  private push(op: Op): void {
    if (this.failure) throw this.failure;
    this.ops.push(op);
    if (this.ops.length >= BATCH_OPS || this.used >= BATCH_BYTES) this.send();
  }

  private send(): void {
    if (!this.ops.length) return;
    const batch: Batch = { ops: this.ops, data: this.data.buffer as ArrayBuffer, unpacked: this.unpacked };
    this.ops = [];
    this.data = this.spare.pop() ?? new Uint8Array(BATCH_BYTES);
    this.used = 0;
    const thread = this.threads[this.next]!;
    // A file still being streamed continues on this thread, which holds it open.
    if (!this.current?.streamed) this.next = (this.next + 1) % this.threads.length;
    const ops = batch.ops.length;
    this.inFlight.push(
      thread.write(batch).then((reply) => {
        if (reply) this.spare.push(new Uint8Array(reply.data));
        if (reply?.ok && reply.method) this.method = reply.method;
        if (!reply?.ok) this.failure ??= reply?.error ? errnoError(reply.error) : new Error('the file writer stopped');
        if (reply?.ok && ops >= BATCH_OPS / 2) this.slowBatches = reply.ms / ops > DISK_BOUND_MS_PER_OP ? this.slowBatches + 1 : 0;
        // A reply may come in after an abort began: a thread started then would outlive the writer.
        if (!this.stopping && this.slowBatches >= SLOW_BATCHES && this.threads.length < MAX_WRITERS) this.threads.push(this.thread(startWorker()));
      }),
    );
  }

  private thread(worker: Worker): WriterThread {
    return new WriterThread(worker, this.setup, (error) => (this.failure ??= error));
  }
}
