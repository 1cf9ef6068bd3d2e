import { constants as fsConstants, createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { TerrariumError, describeCause, isErrno } from '../errors.js';
import { failpoint } from '../io/failpoint.js';
import { siblingPath } from '../io/fs.js';
import { removeLeftovers } from '../io/leftovers.js';
import { RECORD_FORMAT, archiveName, parseRecord, recordName, type ArchiveRecord, type LocalArchive, type PublishResult, type Store } from './store.js';

/**
 * A directory (local disk, NFS, a mounted share). Layout: `KEY.json` (the record) and
 * `KEY.<sha256 prefix>.tar.zst` (the archive). The archive is content-addressed, so it is complete
 * before any record names it, and the record is published with link(2): the first publisher wins,
 * readers never see a partial archive or a record pointing at the wrong bytes.
 */
export class DirectoryStore implements Store {
  readonly description: string;
  readonly remote: boolean = false;
  readonly writable = true;
  private swept = false;

  constructor(
    protected readonly root: string,
    private readonly naming: { what: string; hint: string; title?: string } = { what: 'storage directory', hint: 'check that --storage-dir exists and is writable, or pass --no-upload' },
  ) {
    this.description = naming.title ? `${naming.title} ${root}` : root;
  }

  protected recordPath(key: string): string {
    return path.join(this.root, recordName(key));
  }

  protected archivePath(record: Pick<ArchiveRecord, 'key' | 'sha256' | 'codec'>): string {
    return path.join(this.root, archiveName(record));
  }

  async lookup(key: string): Promise<ArchiveRecord | undefined> {
    if (!this.swept) {
      // Publishers that died part-way leave temporary files; each run sweeps them once (a read-only share just keeps them).
      this.swept = true;
      await removeLeftovers(this.root).catch(() => undefined);
    }
    return this.readRecord(key);
  }

  protected async readRecord(key: string): Promise<ArchiveRecord | undefined> {
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

  async publish(key: string, archive: LocalArchive, tool: string): Promise<PublishResult> {
    const recordFile = this.recordPath(key);
    try {
      await fs.mkdir(path.dirname(recordFile), { recursive: true });
    } catch (error) {
      throw this.ioError(`cannot create ${path.dirname(recordFile)}`, error);
    }
    const record: ArchiveRecord = { format: RECORD_FORMAT, key, sha256: archive.sha256, size: archive.size, codec: archive.codec, created: new Date().toISOString(), tool };
    const tempArchive = siblingPath(recordFile, 'upload');
    try {
      // copyFile clones or copies in the kernel where it can; the temporary name keeps a partial copy invisible.
      await fs.copyFile(archive.path, tempArchive, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
      failpoint('publish-uploaded');
      await fs.rename(tempArchive, this.archivePath(record));
    } catch (error) {
      await fs.rm(tempArchive, { force: true });
      throw this.ioError(`cannot write an archive into ${this.root}`, error);
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
      const winner = await this.readRecord(key);
      if (!winner || this.archivePath(winner) !== this.archivePath(record)) await fs.rm(this.archivePath(record), { force: true });
      return { record: winner ?? record, published: false };
    } finally {
      await fs.rm(tempRecord, { force: true });
    }
  }

  async discard(record: ArchiveRecord): Promise<void> {
    const current = await this.readRecord(record.key);
    if (current?.sha256 === record.sha256) await fs.rm(this.recordPath(record.key), { force: true });
    await fs.rm(this.archivePath(record), { force: true });
  }

  async list(): Promise<ArchiveRecord[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.root);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return [];
      throw this.ioError(`cannot list ${this.root}`, error);
    }
    const records: ArchiveRecord[] = [];
    for (const name of names) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      const record = await this.readRecord(name.slice(0, -'.json'.length));
      if (record) records.push(record);
    }
    return records;
  }

  private ioError(what: string, error: unknown): TerrariumError {
    return new TerrariumError('STORAGE_IO', `${this.naming.what}: ${what}: ${describeCause(error)}`, {
      hint: this.naming.hint,
      cause: error,
    });
  }
}
