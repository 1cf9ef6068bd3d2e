import { Worker } from 'node:worker_threads';
import type { Batch, WriterError, WriterReply, WriterSetup } from './writer-protocol.js';

/** One worker thread and the replies it owes, in order. */
export class WriterThread {
  private readonly waiting: Array<(reply: WriterReply | undefined) => void> = [];

  constructor(
    private readonly worker: Worker,
    setup: WriterSetup,
    onError: (error: Error) => void,
  ) {
    worker.ref();
    worker.on('message', (reply: WriterReply) => this.waiting.shift()!(reply));
    worker.on('error', (error) => {
      onError(error);
      for (const settle of this.waiting.splice(0)) settle(undefined);
    });
    worker.postMessage(setup);
  }

  write(batch: Batch): Promise<WriterReply | undefined> {
    const reply = new Promise<WriterReply | undefined>((resolve) => this.waiting.push(resolve));
    this.worker.postMessage(batch, [batch.data]);
    return reply;
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
    for (const settle of this.waiting.splice(0)) settle(undefined);
  }
}

let prestarted: { worker: Worker; usable: boolean } | undefined;

export const startWorker = (): Worker => new Worker(new URL('./tree-writer-worker.js', import.meta.url));

/**
 * Starts a writer's thread ahead of need: Node takes a while to start one, which an install can
 * spend finding its key and archive instead. The next TreeWriter takes it; unused, it does not keep
 * the process alive.
 */
export function prestartTreeWriter(): void {
  if (prestarted) return;
  const entry = { worker: startWorker(), usable: true };
  const unusable = () => (entry.usable = false);
  entry.worker.once('error', unusable).once('exit', unusable).unref();
  prestarted = entry;
}

export function takeWorker(): Worker {
  const taken = prestarted;
  prestarted = undefined;
  if (taken?.usable) return taken.worker;
  if (taken) void taken.worker.terminate();
  return startWorker();
}

export function errnoError({ message, code, path, unpacked }: WriterError): Error {
  return Object.assign(new Error(message), { code, path, unpacked });
}

/** The existing unpacked copy whose batch failed, when a writer's failure came from one. */
export const unpackedOf = (error: unknown): string | undefined => (error as Partial<WriterError> | null)?.unpacked;
