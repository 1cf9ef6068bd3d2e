import type { Readable } from 'node:stream';
import type { Layer } from '../../archive/layers.js';
import type { LocalArchive } from '../../archive/save.js';
import type { Reporter } from '../../report/reporter.js';
import type { BuildLeases } from '../lease.js';
import { parseRecord, recordFor } from '../record.js';
import type { RecordFiles, VersionedRecord } from '../record-change.js';
import { RecordStore } from '../record-store.js';
import {
  type ArchiveRecord,
  archiveName,
  type ListOptions,
  MAX_RECORD_BYTES,
  missingArchive,
  missingLayer,
  type PublishResult,
  type RequestSettings,
  type TransferProgress,
  type WritableStore,
} from '../store.js';
import { documentOf, variantsOf } from '../variants.js';
import type { CredentialSources } from './credentials.js';
import { type Blob, configOf, digestOf, indexOf, MEDIA_TYPES, manifestMatches, manifestOf, type ParsedManifest, parseTagTarget } from './manifest.js';
import { keyOfTag, type OciReference, tagFor, untaggableKey } from './reference.js';
import { RegistryClient } from './registry-client.js';
import { Repository, type Source } from './repository.js';

export interface OciSettings {
  reference: OciReference;
  credentials: CredentialSources;
  /** Repositories of the same registry whose blobs a publish mounts instead of uploading. */
  mountFrom: string[];
}

/** Blobs pushed at once by a publish, and records read at once by a listing. */
const PARALLEL = 4;

/** Registries have no conditional write: with only an OCI store, runners that miss one key at once each build it (the first tag pushed stays). */
const NO_LEASES: BuildLeases = {
  take: async () => ({ kind: 'unavailable', why: 'a registry cannot hold one: it has no conditional writes' }),
  failure: async () => undefined,
};

function tagOf(key: string): string {
  const tag = tagFor(key);
  if (!tag) throw untaggableKey(key);
  return tag;
}

/** A manifest this run read or pushed, by archive name: what an index names, and where the signature is. */
interface KnownManifest {
  manifest: Blob;
  signature: string | undefined;
}

/**
 * An OCI registry repository (manifest.ts has the mapping): each key a tag (reference.ts), its archive
 * a manifest whose config is the record, its layers the same content-addressed blobs as in any store.
 */
export class OciStore extends RecordStore implements WritableStore {
  readonly description: string;
  readonly remote = true;
  readonly leases = NO_LEASES;
  private readonly repository: Repository;
  private readonly known = new Map<string, KnownManifest>();

  constructor(
    settings: OciSettings,
    requests: RequestSettings,
    private readonly reporter: Reporter,
  ) {
    super();
    const { registry, repository } = settings.reference;
    this.description = `oci://${registry}/${repository}`;
    const client = new RegistryClient(settings.reference, requests, settings.credentials, (cause, waitMs) =>
      reporter.detail({ code: 'REQUEST_RETRIED', store: this.description, cause, seconds: waitMs / 1000 }),
    );
    this.repository = new Repository(client, requests.timeoutSeconds, requests.retries, settings.mountFrom);
  }

  /** A key's archives as its tag names them, the version being the sha256 of the tag's manifest or index as read. */
  private async readDocument(key: string, signal?: AbortSignal): Promise<VersionedRecord | undefined> {
    const tag = tagFor(key);
    const top = tag ? await this.repository.manifest(tag, signal) : undefined;
    const target = top && parseTagTarget(top.bytes);
    if (!top || !target) return undefined;
    const records: ArchiveRecord[] = [];
    if (target.kind === 'manifest') records.push(...[await this.archiveOf(key, top, target.manifest)].filter((r) => r !== undefined));
    for (const child of target.kind === 'index' ? target.manifests : []) {
      const manifest = await this.repository.manifest(digestOf(child.sha256), signal);
      const parsed = manifest?.sha256 === child.sha256 ? parseTagTarget(manifest.bytes) : undefined;
      const record = parsed?.kind === 'manifest' ? await this.archiveOf(key, manifest!, parsed.manifest) : undefined;
      if (record) records.push(record);
    }
    return records.length ? { document: documentOf(records), version: top.sha256 } : undefined;
  }

  /** One archive's record from its manifest's config, when it is this key's and names exactly the manifest's blobs. */
  private async archiveOf(key: string, manifest: Blob, parsed: ParsedManifest): Promise<ArchiveRecord | undefined> {
    const config = await this.repository.smallBlob(parsed.config.sha256, MAX_RECORD_BYTES);
    const record = config && parseRecord(config.toString('utf8'), key);
    if (!record || record.variants || !manifestMatches(parsed, record)) return undefined;
    this.known.set(archiveName(record), { manifest, signature: parsed.signature });
    return record;
  }

  async open(record: ArchiveRecord): Promise<Readable> {
    return (await this.openStream(record.sha256, `download of ${record.key}`)) ?? Promise.reject(missingArchive(this.description));
  }

  async openBlob(layer: Layer): Promise<Readable> {
    return (await this.openStream(layer.sha256, `download of layer ${layer.name}`)) ?? Promise.reject(missingLayer(layer, this.description));
  }

  private openStream(sha256: string, what: string): Promise<Readable | undefined> {
    return this.repository.openBlob(sha256, (resumed) => this.reporter.warn({ code: 'DOWNLOAD_RESUMED', what: `${this.description}: ${what}`, ...resumed }));
  }

  async signature(record: ArchiveRecord): Promise<string | undefined> {
    if (!this.known.has(archiveName(record))) await this.readDocument(record.key);
    return this.known.get(archiveName(record))?.signature;
  }

  /** A key no tag can hold is refused before anything is uploaded. */
  override async publish(key: string, archive: LocalArchive, tool: string, progress?: TransferProgress): Promise<PublishResult> {
    tagOf(key);
    return super.publish(key, archive, tool, progress);
  }

  /**
   * A tag changes only while it still names what was read; registries have no conditional write, so
   * another publisher can get in between the check and the push: changeRecord's read-back then tells.
   */
  protected readonly records: RecordFiles = {
    read: (key) => this.readDocument(key),
    write: async (key, document, expected) => {
      const tag = tagOf(key);
      const current = await this.repository.manifest(tag);
      if (current?.sha256 !== expected?.version) return false;
      const archives = variantsOf(document).map((record) => ({ record, manifest: this.knownManifest(record) }));
      if (archives.length === 1) await this.repository.putManifest(tag, archives[0]!.manifest, MEDIA_TYPES.manifest);
      else await this.repository.putManifest(tag, indexOf(archives), MEDIA_TYPES.index);
      return true;
    },
    remove: async (key, expected) => {
      const current = await this.repository.manifest(tagOf(key));
      if (!current || current.sha256 !== expected.version) return false;
      await this.repository.deleteManifest(current.sha256);
      return true;
    },
    place: async (key, archive, tool, progress) => {
      const record = recordFor(key, archive, tool);
      const sources: Source[] = archive.layers
        ? archive.layers.map((layer) => ({ file: layer.path, sha256: layer.sha256, size: layer.size }))
        : [{ file: archive.path, sha256: archive.sha256, size: archive.size }];
      for (let i = 0; i < sources.length; i += PARALLEL)
        await Promise.all(sources.slice(i, i + PARALLEL).map((source) => this.repository.pushBlob(source, progress)));
      const config = configOf(record);
      await this.repository.pushBlob({ bytes: config.bytes, sha256: config.sha256, size: config.bytes.length });
      const manifest = manifestOf(record, config, archive.signature);
      await this.repository.putManifest(digestOf(manifest.sha256), manifest, MEDIA_TYPES.manifest);
      this.known.set(archiveName(record), { manifest, signature: archive.signature });
      return record;
    },
    // Its manifest, unless the tag names it after all; the blobs are the registry's garbage collection's.
    removeOwn: async (record) => {
      const own = this.known.get(archiveName(record))?.manifest;
      const tag = tagFor(record.key);
      const current = own && tag ? await this.repository.manifest(tag) : undefined;
      const target = current && parseTagTarget(current.bytes);
      const named = current?.sha256 === own?.sha256 || (target?.kind === 'index' && target.manifests.some((m) => m.sha256 === own?.sha256));
      if (own && !named) await this.repository.deleteManifest(own.sha256);
    },
  };

  private knownManifest(record: ArchiveRecord): Blob {
    const known = this.known.get(archiveName(record));
    if (!known) throw new Error(`no manifest known for ${archiveName(record)}`);
    return known.manifest;
  }

  /** A blob proven damaged: deleted where the registry allows it (its digest is checked on upload, so this is rare). */
  async discardBlob(layer: Layer): Promise<void> {
    await this.repository.deleteBlob(layer.sha256).catch(() => undefined);
  }

  /** Blobs no manifest names are the registry's garbage collection's to remove: a client cannot tell which other repositories' manifests name them. */
  async sweep(): Promise<Array<{ sha256: string; size: number }>> {
    return [];
  }

  async sweepNotes(): Promise<string[]> {
    return [];
  }

  async list(options: ListOptions = {}): Promise<ArchiveRecord[]> {
    const keys: string[] = [];
    for await (const tags of this.repository.client.tags(options.signal)) {
      for (const tag of tags) {
        const key = keyOfTag(tag);
        if (key?.startsWith(options.keyPrefix ?? '')) keys.push(key);
      }
    }
    const documents: ArchiveRecord[] = [];
    for (let i = 0; i < keys.length; i += PARALLEL) {
      const read = await Promise.all(keys.slice(i, i + PARALLEL).map((key) => this.readDocument(key, options.signal)));
      documents.push(...read.flatMap((versioned) => (versioned ? [versioned.document] : [])));
    }
    // Tags carry no time: the newest are told by their records.
    documents.sort((a, b) => b.created.localeCompare(a.created));
    return documents.slice(0, options.newest ?? documents.length).flatMap(variantsOf);
  }
}
