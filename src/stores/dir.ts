import { createHash } from 'node:crypto';
import { promises as fs, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Layer } from '../archive/layers.js';
import type { LocalArchive } from '../archive/save.js';
import { describeCause, isErrno, TerrariumError } from '../errors.js';
import { isRealFolder, lstatOrMissing, openRegular, pathKind, readBoundedSync, removeTree, siblingPath, writeFileAtomic } from '../io/fs.js';
import { removeLeftovers } from '../io/leftovers.js';
import { acquireLock, type Lock } from '../io/lock.js';
import { holds, removeUnused, storeFiles } from './dir-files.js';
import { DirectoryLeases } from './dir-lease.js';
import { INDEX_DIR, indexName, MAX_INDEX_BYTES } from './layer-index.js';
import { type BuildLeases, isBuildNote } from './lease.js';
import { parseRecord, recordFor } from './record.js';
import type { RecordFiles, VersionedRecord } from './record-change.js';
import { RecordStore } from './record-store.js';
import {
  type ArchiveRecord,
  archiveName,
  BLOBS_DIR,
  blobName,
  isStorageKey,
  type ListOptions,
  MAX_LISTED,
  MAX_RECORD_BYTES,
  MAX_SIGNATURE_BYTES,
  missingArchive,
  missingLayer,
  readNewest,
  recordName,
  SHA256_HEX,
  signatureName,
  type WritableIndexFiles,
  type WritableStore,
} from './store.js';
import { variantsOf } from './variants.js';

/**
 * A directory (local disk, NFS, a mounted share). Layout: `KEY.json` (the record),
 * `KEY.<sha256 prefix>.tar.zst` (the archive) and, when signed, the archive's name + `.minisig`. The
 * archive and its signature are complete before any record names them, and the record is published
 * with link(2): the first publisher wins, readers never see a partial archive or a record pointing at
 * the wrong bytes.
 */
export class DirectoryStore extends RecordStore implements WritableStore {
  readonly description: string;
  readonly remote: boolean = false;
  private readonly swept = new Set<string>();
  readonly leases: BuildLeases;

  constructor(
    protected readonly root: string,
    private readonly naming: { what: string; hint: string; title?: string } = {
      what: 'storage directory',
      hint: 'check that --storage-dir exists and is writable, or pass --no-upload',
    },
  ) {
    super();
    this.description = naming.title ? `${naming.title} ${root}` : root;
    this.leases = new DirectoryLeases(root);
  }

  protected recordPath(key: string): string {
    return path.join(this.root, recordName(key));
  }

  protected archivePath(record: Pick<ArchiveRecord, 'key' | 'sha256' | 'codec' | 'layers'>): string {
    return path.join(this.root, archiveName(record));
  }

  private signaturePath(record: Pick<ArchiveRecord, 'key' | 'sha256' | 'codec' | 'layers'>): string {
    return path.join(this.root, signatureName(record));
  }

  protected blobPath(sha256: string): string {
    return path.join(this.root, blobName(sha256));
  }

  override async archives(key: string): Promise<ArchiveRecord[]> {
    // Publishers that died part-way leave temporary files; each run sweeps them once from the folders
    // it reads (a read-only share just keeps them), and prune from the blobs' folder.
    for (const folder of new Set([this.root, path.dirname(this.recordPath(key))])) {
      if (this.swept.has(folder)) continue;
      this.swept.add(folder);
      if (await this.owns(folder)) await removeLeftovers(folder).catch(() => undefined);
    }
    return super.archives(key);
  }

  protected async readRecord(key: string): Promise<ArchiveRecord | undefined> {
    return (await this.readVersioned(key))?.document;
  }

  /** The record and a digest of its bytes, which a change under the record's lock compares. */
  private async readVersioned(key: string): Promise<VersionedRecord | undefined> {
    let bytes: Buffer;
    try {
      bytes = readBoundedSync(this.recordPath(key), MAX_RECORD_BYTES);
    } catch (error) {
      if (isErrno(error, 'ENOENT', 'ENOTDIR')) return undefined;
      // Not a file, or too large to be one of ours: no usable record.
      if (isErrno(error, 'ENOTREG', 'EFBIG', 'EISDIR')) return undefined;
      throw this.ioError(`cannot read ${this.recordPath(key)}`, error);
    }
    const document = parseRecord(bytes.toString('utf8'), key);
    return document && { document, version: createHash('sha256').update(bytes).digest('hex') };
  }

  async open(record: ArchiveRecord): Promise<Readable> {
    return this.openFile(this.archivePath(record), record.size, missingArchive);
  }

  async openBlob(layer: Layer): Promise<Readable> {
    return this.openFile(this.blobPath(layer.sha256), layer.size, (file) => missingLayer(layer, file));
  }

  /** The file's bytes, at most one past the size recorded for them; anything but a regular file (a planted FIFO, a link to a device) is refused at once. */
  private async openFile(file: string, size: number, missing: (file: string) => TerrariumError): Promise<Readable> {
    return openRegular(file, size).catch((error: unknown) => {
      if (isErrno(error, 'ENOENT', 'ENOTDIR')) throw missing(file);
      // Not a file at all: what the record names is not there, as good as missing (and replaced by a publisher).
      if (isErrno(error, 'ENOTREG', 'EISDIR')) throw missing(file);
      throw this.ioError(`cannot open ${file}`, error);
    });
  }

  async signature(record: ArchiveRecord): Promise<string | undefined> {
    try {
      return readBoundedSync(this.signaturePath(record), MAX_SIGNATURE_BYTES).toString('utf8');
    } catch (error) {
      if (isErrno(error, 'ENOENT', 'ENOTDIR', 'ENOTREG', 'EFBIG', 'EISDIR')) return undefined;
      throw this.ioError(`cannot read ${this.signaturePath(record)}`, error);
    }
  }

  /**
   * A new record is linked in (link(2): the first writer wins); a change is made under the record's own
   * lock, only while its bytes are those read, by a rename readers see whole.
   */
  protected readonly records: RecordFiles = {
    read: (key) => this.readVersioned(key),
    write: async (key, document, expected) => {
      const file = this.recordPath(key);
      const text = `${JSON.stringify(document, null, 2)}\n`;
      if (!expected)
        return writeFileAtomic(file, text, { create: true }).catch((error: unknown) => Promise.reject(this.ioError(`cannot publish ${file}`, error)));
      return this.underLock(key, expected, () => writeFileAtomic(file, text));
    },
    remove: (key, expected) => this.underLock(key, expected, () => fs.rm(this.recordPath(key), { force: true })),
    place: (key, archive, tool) => this.place(key, archive, tool),
    removeOwn: (record) => this.removeOwn(record),
  };

  /** Runs `change` under the record's lock if the record is still as `expected` was read; false when it is not. */
  private async underLock(key: string, expected: VersionedRecord, change: () => Promise<unknown>): Promise<boolean> {
    const file = this.recordPath(key);
    let lock: Lock;
    try {
      lock = await acquireLock(`${file}.lock`, { command: 'record', timeoutMs: 30_000 });
    } catch (error) {
      throw this.ioError(`cannot lock ${file}`, error);
    }
    try {
      if ((await this.readVersioned(key))?.version !== expected.version) return false;
      await change();
      return true;
    } catch (error) {
      throw this.ioError(`cannot write ${file}`, error);
    } finally {
      await lock.release();
    }
  }

  /** Copies the archive (and its signature) in under their final names, before any record names them. */
  private async place(key: string, archive: LocalArchive, tool: string): Promise<ArchiveRecord> {
    // A key with `/` keeps its record and archive in a folder of the store.
    const folder = path.dirname(this.recordPath(key));
    try {
      await fs.mkdir(folder, { recursive: true });
    } catch (error) {
      throw this.ioError(`cannot create ${folder}`, error);
    }
    const record = recordFor(key, archive, tool);
    const put = async (final: string, write: (temp: string) => Promise<void>) => {
      const temp = siblingPath(final, 'upload');
      try {
        await write(temp);
        await fs.rename(temp, final);
      } catch (error) {
        await fs.rm(temp, { force: true });
        throw this.ioError(`cannot write an archive into ${this.root}`, error);
      }
    };
    // copyFile clones or copies in the kernel where it can; the temporary name keeps a partial copy invisible.
    const copy = (from: string) => (temp: string) => fs.copyFile(from, temp, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
    if (!archive.layers) await put(this.archivePath(record), copy(archive.path));
    else {
      await fs.mkdir(path.join(this.root, BLOBS_DIR), { recursive: true }).catch((error: unknown) => {
        throw this.ioError(`cannot create ${path.join(this.root, BLOBS_DIR)}`, error);
      });
      // A blob already there is another record's, shared, once it proves to be the bytes its name says
      // (a read at disk speed); one that is not is replaced, by a rename readers never see half of.
      for (const layer of archive.layers) {
        const blob = this.blobPath(layer.sha256);
        if (await holds(blob, layer)) await fs.utimes(blob, new Date(), new Date()).catch(() => undefined);
        else {
          // A folder planted at the name would make every rename onto it fail, and no publication heal it.
          if ((await pathKind(blob)) === 'directory') await removeTree(blob);
          await put(blob, copy(layer.path));
        }
      }
    }
    if (archive.signature !== undefined) await put(this.signaturePath(record), (temp) => fs.writeFile(temp, archive.signature!, { flag: 'wx' }));
    return record;
  }

  /** Whether `dir` is a folder of the store itself, reached through no symlink under the root: only there is anything deleted. */
  private owns(dir: string): Promise<boolean> {
    return isRealFolder(this.root, path.relative(this.root, dir));
  }

  /** Removes an archive's own files; a layered archive's blobs may be other records' too, and stay for sweep. */
  private async removeOwn(record: ArchiveRecord): Promise<void> {
    if (!(await this.owns(path.dirname(this.signaturePath(record))))) return;
    if (!record.layers) await fs.rm(this.archivePath(record), { force: true });
    await fs.rm(this.signaturePath(record), { force: true });
  }

  async discardBlob(layer: Layer): Promise<void> {
    if (await this.owns(path.join(this.root, BLOBS_DIR))) await fs.rm(this.blobPath(layer.sha256), { force: true });
  }

  async sweep(referenced: ReadonlySet<string>, graceMs: number, dryRun = false): Promise<Array<{ sha256: string; size: number }>> {
    const dir = path.join(this.root, BLOBS_DIR);
    // A blobs folder that is a link leads to someone else's blobs, none of them referenced here.
    if (!(await this.owns(dir))) return [];
    if (!dryRun) await removeLeftovers(dir).catch(() => undefined);
    const names = await fs.readdir(dir).catch((error: unknown) => {
      if (isErrno(error, 'ENOENT')) return [];
      throw this.ioError(`cannot list ${dir}`, error);
    });
    // The grace runs from the last publication that used the blob (place() touches it).
    const unnamed = names.filter((n) => SHA256_HEX.test(n) && !referenced.has(n));
    return (await removeUnused(dir, unnamed, graceMs, dryRun)).map(({ name, size }) => ({ sha256: name, size }));
  }

  async sweepNotes(graceMs: number, dryRun = false): Promise<string[]> {
    const names = await storeFiles(this.root, isBuildNote).catch(() => []);
    return (await removeUnused(this.root, names, graceMs, dryRun)).map(({ name }) => name);
  }

  async list(options: ListOptions = {}): Promise<ArchiveRecord[]> {
    let keys: string[];
    try {
      const records = await storeFiles(this.root, (name) => name.endsWith('.json'));
      // Only names terrarium could have published: a planted one (escape sequences) would reach `ls`'s output.
      keys = records.map((name) => name.slice(0, -'.json'.length)).filter((key) => isStorageKey(key) && key.startsWith(options.keyPrefix ?? ''));
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return [];
      throw this.ioError(`cannot list ${this.root}`, error);
    }
    if (!options.newest) return (await Promise.all(keys.map((key) => this.readRecord(key)))).flatMap((document) => (document ? variantsOf(document) : []));
    const listed = await Promise.all(
      keys.slice(0, MAX_LISTED).map(async (key) => ({ key, modified: (await lstatOrMissing(this.recordPath(key)))?.mtimeMs ?? 0 })),
    );
    return readNewest(listed, options.newest, (key) => this.readRecord(key)).then((documents) => documents.flatMap(variantsOf));
  }

  readonly index: WritableIndexFiles = {
    read: async (id) => {
      try {
        return readBoundedSync(path.join(this.root, indexName(id)), MAX_INDEX_BYTES).toString('utf8');
      } catch {
        return undefined;
      }
    },
    write: async (id, text) => {
      const file = path.join(this.root, indexName(id));
      if (text === undefined) return fs.rm(file, { force: true });
      await fs.mkdir(path.dirname(file), { recursive: true });
      await writeFileAtomic(file, text);
    },
    ids: async () => {
      const dir = path.join(this.root, INDEX_DIR);
      if (!(await this.owns(dir))) return [];
      return (await fs.readdir(dir).catch(() => [])).filter((name) => SHA256_HEX.test(name));
    },
  };

  private ioError(what: string, error: unknown): TerrariumError {
    return new TerrariumError('STORAGE_IO', `${this.naming.what}: ${what}: ${describeCause(error)}`, {
      hint: this.naming.hint,
      cause: error,
    });
  }
}
