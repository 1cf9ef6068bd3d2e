import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CODEC_EXTENSION, type Codec } from '../archive/codecs.js';
import { ChecksumStream } from '../archive/checksum.js';
import { TerrariumError, describeCause, isErrno } from '../errors.js';
import { failpoint } from '../io/failpoint.js';
import { siblingPath } from '../io/fs.js';
import { removeLeftovers } from '../io/leftovers.js';
import { RECORD_FORMAT, parseRecord, type ArchiveRecord, type PublishResult, type Store } from './store.js';

/**
 * A directory (local disk, NFS, a mounted share). Layout: `KEY.json` (the record) and
 * `KEY.<sha256 prefix>.tar.zst` (the archive). The archive is content-addressed, so it is complete
 * before any record names it, and the record is published with link(2): the first publisher wins,
 * readers never see a partial archive or a record pointing at the wrong bytes.
 */
export class DirectoryStore implements Store {
  readonly description: string;
  private swept = false;

  constructor(private readonly root: string) {
    this.description = root;
  }

  private recordPath(key: string): string {
    return path.join(this.root, `${key}.json`);
  }

  private archivePath(record: Pick<ArchiveRecord, 'key' | 'sha256' | 'codec'>): string {
    return path.join(this.root, `${record.key}.${record.sha256.slice(0, 16)}${CODEC_EXTENSION[record.codec]}`);
  }

  async lookup(key: string): Promise<ArchiveRecord | undefined> {
    if (!this.swept) {
      // Publishers that died part-way leave temporary files; each run sweeps them once (a read-only share just keeps them).
      this.swept = true;
      await removeLeftovers(this.root).catch(() => undefined);
    }
    let json: string;
    try {
      json = await fs.readFile(this.recordPath(key), 'utf8');
    } catch (error) {
      if (isErrno(error, 'ENOENT', 'ENOTDIR')) return undefined;
      throw this.ioError(`cannot read ${this.recordPath(key)}`, error);
    }
    return parseRecord(json, key);
  }

  async open(record: ArchiveRecord): Promise<Readable> {
    const file = this.archivePath(record);
    const stream = createReadStream(file);
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    }).catch((error: unknown) => {
      throw this.ioError(`cannot open ${file}`, error);
    });
    return stream;
  }

  async publish(key: string, codec: Codec, archive: Readable, tool: string): Promise<PublishResult> {
    const recordFile = this.recordPath(key);
    try {
      await fs.mkdir(path.dirname(recordFile), { recursive: true });
    } catch (error) {
      throw this.ioError(`cannot create ${path.dirname(recordFile)}`, error);
    }
    const tempArchive = siblingPath(recordFile, 'upload');
    const checksum = new ChecksumStream();
    let record: ArchiveRecord;
    try {
      const sink = createWriteStream(tempArchive, { flags: 'wx', mode: 0o644, flush: true });
      await pipeline(archive, checksum, sink);
      failpoint('publish-uploaded');
      record = { format: RECORD_FORMAT, key, sha256: checksum.hex(), size: checksum.bytes, codec, created: new Date().toISOString(), tool };
      await fs.rename(tempArchive, this.archivePath(record));
    } catch (error) {
      await fs.rm(tempArchive, { force: true });
      throw error instanceof TerrariumError ? error : this.ioError(`cannot write an archive into ${this.root}`, error);
    }
    const tempRecord = siblingPath(recordFile, 'record');
    try {
      await fs.writeFile(tempRecord, `${JSON.stringify(record, null, 2)}\n`, { flag: 'wx', flush: true });
      await fs.link(tempRecord, recordFile);
      failpoint('publish-recorded');
      return { record, published: true };
    } catch (error) {
      if (!isErrno(error, 'EEXIST')) {
        await fs.rm(this.archivePath(record), { force: true });
        throw this.ioError(`cannot publish ${recordFile}`, error);
      }
      const winner = await this.lookup(key);
      if (!winner || this.archivePath(winner) !== this.archivePath(record)) await fs.rm(this.archivePath(record), { force: true });
      return { record: winner ?? record, published: false };
    } finally {
      await fs.rm(tempRecord, { force: true });
    }
  }

  async discard(record: ArchiveRecord): Promise<void> {
    const current = await this.lookup(record.key);
    if (current?.sha256 === record.sha256) await fs.rm(this.recordPath(record.key), { force: true });
    await fs.rm(this.archivePath(record), { force: true });
  }

  private ioError(what: string, error: unknown): TerrariumError {
    return new TerrariumError('STORAGE_IO', `storage directory: ${what}: ${describeCause(error)}`, {
      hint: 'check that --storage-dir exists and is writable, or pass --no-upload',
      cause: error,
    });
  }
}
