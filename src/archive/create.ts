import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable, Transform } from 'node:stream';
import tar from 'tar-stream';

type TarHeader = Partial<tar.Header> & { name: string };
import { MANIFEST_PATH, type Manifest } from '../relocate/manifest.js';
import type { TreeEntry } from '../relocate/scan.js';

/** Files up to this size are read whole, several at a time; bigger ones are streamed. */
const SMALL_FILE = 1 << 20;
const READ_AHEAD = 32;

/**
 * Streams an environment as a tar through `encoder` (the codec), the manifest first so that a restore knows what to rewrite
 * before the files arrive. Owner names and ids are left out: an environment belongs to whoever unpacks it.
 */
export function packEnvironment(root: string, entries: readonly TreeEntry[], manifest: Manifest, encoder: Transform): Readable {
  const pack = tar.pack();
  // pipe() does not pass errors on: without this, a failed read would leave the reader waiting forever.
  pack.once('error', (error) => encoder.destroy(error));
  pack.pipe(encoder);
  const add = (header: TarHeader, content?: Buffer) =>
    new Promise<void>((resolve, reject) => pack.entry(header, content ?? Buffer.alloc(0), (error) => (error ? reject(error) : resolve())));

  const pending = new Map<number, Promise<Buffer>>();
  const readAhead = (from: number) => {
    for (let j = from; j < Math.min(entries.length, from + READ_AHEAD); j++) {
      const entry = entries[j]!;
      if (entry.type === 'file' && entry.size <= SMALL_FILE && !pending.has(j)) {
        const read = fs.readFile(path.join(root, entry.path));
        read.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile
        pending.set(j, read);
      }
    }
  };

  const run = async () => {
    const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
    await add({ name: MANIFEST_PATH, type: 'file', mode: 0o644, mtime: new Date(manifest.created), size: manifestBytes.length }, manifestBytes);
    for (let i = 0; i < entries.length; i++) {
      readAhead(i);
      const entry = entries[i]!;
      const header: TarHeader = { name: entry.path, type: entry.type, mode: entry.mode, mtime: entry.mtime, uid: 0, gid: 0 };
      if (entry.type === 'directory') await add(header);
      else if (entry.type === 'symlink') await add({ ...header, linkname: entry.linkname ?? '' });
      else if (pending.has(i)) {
        const content = await pending.get(i)!;
        pending.delete(i);
        await add({ ...header, size: content.length }, content);
      } else {
        await new Promise<void>((resolve, reject) => {
          const sink = pack.entry({ ...header, size: entry.size }, (error) => (error ? reject(error) : resolve()));
          createReadStream(path.join(root, entry.path)).once('error', reject).pipe(sink);
        });
      }
    }
    pack.finalize();
  };
  run().catch((error: unknown) => pack.destroy(error as Error));
  return encoder;
}
