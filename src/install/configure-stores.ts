import { LocalCache } from '../cache/local-cache.js';
import type { Reporter } from '../report/reporter.js';
import { DirectoryStore } from '../stores/dir.js';
import { HttpStore } from '../stores/http.js';
import { type OciSettings, OciStore } from '../stores/oci/oci-store.js';
import { S3Store } from '../stores/s3.js';
import type { S3Options } from '../stores/s3-bucket.js';
import type { RequestSettings, Store } from '../stores/store.js';

export interface StoreSettings {
  storageDir: string | undefined;
  storageUrl: string | undefined;
  s3: S3Options | undefined;
  oci: OciSettings | undefined;
  requests: RequestSettings;
  /** Undefined: no cache (--no-cache, or no home directory to keep one in). */
  cacheDir: string | undefined;
  cacheMaxBytes: number | undefined;
}

export interface ConfiguredStores {
  /** In lookup order: storage directory, S3, OCI registry, HTTP. */
  stores: Store[];
  /** Downloaded archives and unpacked copies (undefined with --no-cache). */
  local: LocalCache | undefined;
}

/** Every store in lookup order: the cache first, then the configured ones. */
export function lookupOrder({ stores, local }: ConfiguredStores): Store[] {
  const cache = local?.archivesFor(stores);
  return cache ? [cache, ...stores] : stores;
}

/** The options that name a store, as messages ask for one. */
export const STORE_OPTIONS = '--storage-dir, --s3-bucket, --oci-repository or --storage-url';

/** Where a key was looked for, for messages; with no store at all, how to name one. */
export function describeStores(stores: Store[]): string {
  return stores.length ? stores.map((s) => s.description).join(', ') : `any store (none configured: pass ${STORE_OPTIONS})`;
}

export function configureStores(settings: StoreSettings, reporter: Reporter): ConfiguredStores {
  const stores: Store[] = [];
  if (settings.storageDir) stores.push(new DirectoryStore(settings.storageDir));
  if (settings.s3) stores.push(new S3Store(settings.s3, settings.requests, reporter));
  if (settings.oci) stores.push(new OciStore(settings.oci, settings.requests, reporter));
  if (settings.storageUrl) stores.push(new HttpStore(settings.storageUrl, settings.requests, reporter));
  return { stores, local: settings.cacheDir ? new LocalCache(settings.cacheDir, settings.cacheMaxBytes) : undefined };
}
