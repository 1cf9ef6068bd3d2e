import { createReadStream } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import type { LocalArchive } from '../archive/save.js';
import type { TerrariumError } from '../errors.js';
import { isNotFound } from './s3-errors.js';
import { type ArchiveRecord, archiveName, blobName, signatureName, type TransferProgress } from './store.js';

/** Multipart parts: large enough to keep the request count low, small enough to retry cheaply. */
const PART_SIZE = 16 * 1024 * 1024;

export interface UploadTarget {
  client: S3Client;
  sdk: typeof import('@aws-sdk/client-s3');
  bucket: string;
  /** The object name of a store-relative name (the store's prefix prepended). */
  name: (name: string) => string;
  fail: (what: string, name: string, error: unknown) => TerrariumError;
}

/**
 * Uploads an archive (multipart, its sha256 as metadata) and its signature under their final names,
 * before any record names them. A layered archive's layers that are there already are not uploaded
 * again: each is copied onto itself instead, which makes it new again for prune's grace period.
 */
export async function uploadArchive(target: UploadTarget, record: ArchiveRecord, archive: LocalArchive, progress?: TransferProgress): Promise<void> {
  const { client, sdk, bucket } = target;
  let blob = target.name(archiveName(record));
  const { Upload } = await import('@aws-sdk/lib-storage');
  let sent = 0;
  const put = async (file: string, size: number, sha256: string) => {
    const upload = new Upload({
      client,
      partSize: PART_SIZE,
      queueSize: 4,
      leavePartsOnError: false,
      params: { Bucket: bucket, Key: blob, Body: createReadStream(file), ContentLength: size, Metadata: { sha256 } },
    });
    upload.on('httpUploadProgress', (part) => {
      if (progress && part.loaded !== undefined) progress.bytes = sent + part.loaded;
    });
    await upload.done();
    sent += size;
  };
  try {
    if (!archive.layers) await put(archive.path, archive.size, archive.sha256);
    for (const layer of archive.layers ?? []) {
      blob = target.name(blobName(layer.sha256));
      const there = await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: blob })).catch((error: unknown) => {
        if (isNotFound(error)) return undefined;
        throw error;
      });
      if (there?.ContentLength !== layer.size) await put(layer.path, layer.size, layer.sha256);
      else {
        const copy = { Bucket: bucket, Key: blob, CopySource: `${bucket}/${encodeURIComponent(blob).replace(/%2F/g, '/')}` };
        await client.send(new sdk.CopyObjectCommand({ ...copy, MetadataDirective: 'REPLACE', Metadata: { sha256: layer.sha256 } }));
      }
    }
    if (archive.signature !== undefined) {
      await client.send(
        new sdk.PutObjectCommand({ Bucket: bucket, Key: target.name(signatureName(record)), Body: archive.signature, ContentType: 'text/plain' }),
      );
    }
  } catch (error) {
    throw target.fail('upload', blob, error);
  }
}
