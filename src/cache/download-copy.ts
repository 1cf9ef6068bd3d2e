import { createWriteStream, promises as fs, type WriteStream } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { LocalArchive } from '../archive/save.js';
import type { CacheStore } from './archives.js';

/**
 * The tee of a download into the cache: the bytes an install reads are also written to `file` (beside
 * the target, so the cache's rename is cheap) and, once the install has verified them, added to the
 * cache. The next install of the key downloads nothing. The copy is never read before it is verified.
 */
export class DownloadCopy {
  /** What the install reads: the same bytes as the copy. */
  readonly source: Readable;
  private readonly copy: WriteStream;
  /** Settles with undefined once every byte is on disk, or with the write's error. */
  private readonly copied: Promise<unknown>;

  constructor(
    private readonly download: Readable,
    private readonly file: string,
  ) {
    this.source = download.pipe(new PassThrough());
    this.copy = download.pipe(createWriteStream(file, { flags: 'wx', mode: 0o644 }));
    this.copied = finished(this.copy).then(
      () => undefined,
      (error: unknown) => error ?? new Error('copy failed'),
    );
  }

  /** Whether every byte reached the copy (false when writing it failed: the install goes on without it). */
  async written(): Promise<boolean> {
    return (await this.copied) === undefined;
  }

  /** Adds the verified copy to `cache`; false when the copy failed to be written. */
  async addToCache(cache: CacheStore, key: string, archive: Omit<LocalArchive, 'path'>, tool: string): Promise<boolean> {
    if (!(await this.written())) return false;
    await cache.publish(key, { ...archive, path: this.file }, tool);
    return true;
  }

  /** Stops both streams (after a failure the download may still be flowing) and removes what is left of the copy. */
  async dispose(): Promise<void> {
    this.download.destroy();
    this.copy.destroy();
    await this.copied;
    await fs.rm(this.file, { force: true });
  }
}
