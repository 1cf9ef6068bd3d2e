import { createReadStream } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import type { LocalArchive } from '../archive/save.js';
import type { TerrariumError } from '../errors.js';
import { archiveName, signatureName, type ArchiveRecord, type TransferProgress } from './store.js';

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

/** Uploads an archive (multipart, its sha256 as metadata) and its signature under their final names, before any record names them. */
export async function uploadArchive(target: UploadTarget, record: ArchiveRecord, archive: LocalArchive, progress?: TransferProgress): Promise<void> {
  const { client, sdk, bucket } = target;
  const blob = target.name(archiveName(record));
  const { Upload } = await import('@aws-sdk/lib-storage');
  try {
    const upload = new Upload({
      client,
      partSize: PART_SIZE,
      queueSize: 4,
      leavePartsOnError: false,
      params: { Bucket: bucket, Key: blob, Body: createReadStream(archive.path), ContentLength: archive.size, Metadata: { sha256: archive.sha256 } },
    });
    upload.on('httpUploadProgress', (sent) => {
      if (progress && sent.loaded !== undefined) progress.bytes = sent.loaded;
    });
    await upload.done();
    if (archive.signature !== undefined) {
      await client.send(
        new sdk.PutObjectCommand({ Bucket: bucket, Key: target.name(signatureName(record)), Body: archive.signature, ContentType: 'text/plain' }),
      );
    }
  } catch (error) {
    throw target.fail('upload', blob, error);
  }
}
