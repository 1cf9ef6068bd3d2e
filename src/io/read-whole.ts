import type { Readable } from 'node:stream';

/**
 * A small body (a record, a manifest, a token) read whole: undefined as soon as it passes `max` bytes,
 * and an error when it stays silent for `silenceMs` or is not whole within `wholeMs`, so that a server
 * trickling it in cannot hold a run for hours. The stream is destroyed in every case.
 */
export async function readWhole(stream: Readable, max: number, silenceMs: number, wholeMs: number): Promise<Buffer | undefined> {
  const idle = setTimeout(() => stream.destroy(new Error(`no data for ${silenceMs / 1000} s`)), silenceMs);
  const deadline = setTimeout(() => stream.destroy(new Error(`not received whole within ${wholeMs / 1000} s`)), wholeMs);
  try {
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of stream) {
      idle.refresh();
      length += (chunk as Buffer).length;
      if (length > max) return undefined;
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  } finally {
    clearTimeout(idle);
    clearTimeout(deadline);
    stream.destroy();
  }
}
