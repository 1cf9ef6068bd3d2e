import { createHash } from 'node:crypto';
import type { Codec } from '../../archive/codec-names.js';
import type { Platform } from '../../python/fingerprint.js';
import { type ArchiveRecord, MAX_LAYERS, MAX_SIGNATURE_BYTES, MAX_VARIANTS } from '../store.js';

/*
 * How an environment is kept in an OCI registry (image-spec 1.1, artifacts guidance): each archive an
 * image manifest whose config is its record (terrarium's own media type, which registries older than
 * `artifactType` accept) and whose layers are its layers' blobs (a format 1 archive: its one file);
 * a key with archives for several platforms an image index of those manifests. Pure: bytes in, bytes out.
 */

export const MEDIA_TYPES = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  record: 'application/vnd.terrarium.record.v1+json',
} as const;

const CODEC_SUFFIX: Record<Codec, string> = { zstd: '+zstd', gzip: '+gzip', none: '' };
export const layerMediaType = (codec: Codec) => `application/vnd.terrarium.layer.v1.tar${CODEC_SUFFIX[codec]}`;
export const archiveMediaType = (codec: Codec) => `application/vnd.terrarium.archive.v1.tar${CODEC_SUFFIX[codec]}`;

/** Annotations terrarium writes; the signature is the archive's minisign signature, as a storage directory keeps it in KEY.<sha>.minisig. */
export const ANNOTATIONS = {
  created: 'org.opencontainers.image.created',
  title: 'org.opencontainers.image.title',
  key: 'dev.terrarium.key',
  signature: 'dev.terrarium.signature',
} as const;

/** Manifests and indexes are read no further than this (distribution's own limit is 4 MiB). */
export const MAX_MANIFEST_BYTES = 2 << 20;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
}

/** Bytes as pushed, with their sha256 (hex): what a tag or an index names. */
export interface Blob {
  bytes: Buffer;
  sha256: string;
}

export const blobOf = (bytes: Buffer): Blob => ({ bytes, sha256: createHash('sha256').update(bytes).digest('hex') });
export const digestOf = (sha256: string) => `sha256:${sha256}`;

/** The record of one archive as its manifest's config holds it. */
export function configOf(record: ArchiveRecord): Blob {
  const { variants: _, ...own } = record;
  return blobOf(Buffer.from(JSON.stringify(own)));
}

/** The manifest of one archive: its record as config, its blobs as layers, its signature as an annotation. */
export function manifestOf(record: ArchiveRecord, config: Blob, signature: string | undefined): Blob {
  const layers: Descriptor[] = record.layers
    ? record.layers.map((layer) => ({
        mediaType: layerMediaType(record.codec),
        digest: digestOf(layer.sha256),
        size: layer.size,
        annotations: { [ANNOTATIONS.title]: layer.name },
      }))
    : [{ mediaType: archiveMediaType(record.codec), digest: digestOf(record.sha256), size: record.size }];
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: MEDIA_TYPES.record, digest: digestOf(config.sha256), size: config.bytes.length },
    layers,
    annotations: {
      [ANNOTATIONS.created]: record.created,
      [ANNOTATIONS.key]: record.key,
      ...(signature === undefined ? {} : { [ANNOTATIONS.signature]: signature }),
    },
  };
  return blobOf(Buffer.from(JSON.stringify(manifest)));
}

const ARCHITECTURES: Record<string, string> = {
  x86_64: 'amd64',
  amd64: 'amd64',
  aarch64: 'arm64',
  arm64: 'arm64',
  i686: '386',
  armv7l: 'arm',
  ppc64le: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** The platform descriptor of an archive (GOARCH/GOOS names, as `docker` and `skopeo` show them). */
export function ociPlatform(platform: Platform | undefined): Descriptor['platform'] | undefined {
  if (!platform) return undefined;
  const architecture = ARCHITECTURES[platform.machine.toLowerCase()] ?? platform.machine.toLowerCase();
  return { architecture, os: platform.system.toLowerCase(), ...(platform.machine === 'armv7l' ? { variant: 'v7' } : {}) };
}

/** The index of a key's archives for several platforms, in the record's order. */
export function indexOf(archives: Array<{ manifest: Blob; record: ArchiveRecord }>): Blob {
  const manifests = archives.map(({ manifest, record }) => {
    const platform = ociPlatform(record.platform);
    return { mediaType: MEDIA_TYPES.manifest, digest: digestOf(manifest.sha256), size: manifest.bytes.length, ...(platform ? { platform } : {}) };
  });
  return blobOf(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests })));
}

/** A manifest as read: where its record is, its layers, its signature. */
export interface ParsedManifest {
  config: { sha256: string; size: number };
  layers: Array<{ sha256: string; size: number }>;
  signature: string | undefined;
}

/** A tag's target: one archive's manifest, or an index naming several. */
export type TagTarget = { kind: 'manifest'; manifest: ParsedManifest } | { kind: 'index'; manifests: Array<{ sha256: string; size: number }> };

const SHA256_DIGEST = /^sha256:([0-9a-f]{64})$/;

/** A descriptor's digest and size when it is one terrarium can follow: sha256, a size, and in this repository (no `urls`). */
function followable(value: unknown, maxSize: number): { sha256: string; size: number } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const d = value as Partial<Descriptor> & { urls?: unknown };
  const match = typeof d.digest === 'string' ? SHA256_DIGEST.exec(d.digest) : null;
  if (!match || !Number.isSafeInteger(d.size) || d.size! < 0 || d.size! > maxSize || d.urls !== undefined) return undefined;
  return { sha256: match[1]!, size: d.size! };
}

/**
 * A manifest or index from a registry (hostile input): a known media type, at most MAX_LAYERS layers or
 * MAX_VARIANTS manifests, every descriptor a sha256 in this repository; undefined for anything else.
 */
export function parseTagTarget(bytes: Buffer): TagTarget | undefined {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || value.schemaVersion !== 2) return undefined;
  if (value.mediaType === MEDIA_TYPES.index) {
    const listed = value.manifests;
    if (!Array.isArray(listed) || listed.length === 0 || listed.length > MAX_VARIANTS) return undefined;
    const manifests = listed.map((d: unknown) => ((d as Descriptor)?.mediaType === MEDIA_TYPES.manifest ? followable(d, MAX_MANIFEST_BYTES) : undefined));
    return manifests.every((d) => d !== undefined) ? { kind: 'index', manifests } : undefined;
  }
  const manifest = parseManifest(value);
  return manifest && { kind: 'manifest', manifest };
}

function parseManifest(value: Record<string, unknown>): ParsedManifest | undefined {
  if (value.mediaType !== MEDIA_TYPES.manifest) return undefined;
  const configDescriptor = value.config as Partial<Descriptor> | undefined;
  if (configDescriptor?.mediaType !== MEDIA_TYPES.record) return undefined;
  const config = followable(configDescriptor, MAX_MANIFEST_BYTES);
  if (!config || !Array.isArray(value.layers) || value.layers.length === 0 || value.layers.length > MAX_LAYERS) return undefined;
  const layers = value.layers.map((d: unknown) => followable(d, Number.MAX_SAFE_INTEGER));
  if (!layers.every((d) => d !== undefined)) return undefined;
  const annotations = (typeof value.annotations === 'object' && value.annotations !== null ? value.annotations : {}) as Record<string, unknown>;
  const signature = annotations[ANNOTATIONS.signature];
  const signed = typeof signature === 'string' && signature.length <= MAX_SIGNATURE_BYTES ? signature : undefined;
  return { config, layers, signature: signed };
}

/** Whether a manifest names exactly the blobs its record does (a record that lists other layers than its manifest is no archive of this repository). */
export function manifestMatches(manifest: ParsedManifest, record: ArchiveRecord): boolean {
  const named = record.layers ? record.layers.map(({ sha256, size }) => ({ sha256, size })) : [{ sha256: record.sha256, size: record.size }];
  return (
    named.length === manifest.layers.length && named.every((blob, i) => blob.sha256 === manifest.layers[i]!.sha256 && blob.size === manifest.layers[i]!.size)
  );
}
