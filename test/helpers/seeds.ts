import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import { acquireLock } from '../../src/io/lock.js';
import { type ArchiveRecord, archiveName, BLOBS_DIR, blobName } from '../../src/stores/store.js';
import { BIN, hermeticEnv } from './hermetic.js';

/** The requirement sets archived once per run, by name. */
export const SEEDS = {
  demo: 'terra-demo\n',
  dep: 'terra-dep\n',
  cext: 'terra-cext\n',
  'demo-cext': 'terra-demo\nterra-cext\n',
} as const;

export type SeedName = keyof typeof SEEDS;

/** Archive formats a seed is built in: 2, what builds publish; 1, for tests of one archive file. */
export type SeedFormat = 1 | 2;

/**
 * The archive of a seed, built by the first test of the run that asks for it (the others wait on its
 * lock, across workers) with the default interpreter; returns its key and the storage directory
 * holding it. A build is 3-5 s here; copying its archive, nothing.
 */
async function seed(name: SeedName, format: SeedFormat): Promise<{ key: string; store: string }> {
  const dir = path.join(inject('fixtures'), 'seeds');
  mkdirSync(dir, { recursive: true });
  const store = path.join(dir, `store-${format}`);
  const keyFile = path.join(dir, `${name}.key`);
  const done = path.join(dir, `${name}.${format}.done`);
  const lock = await acquireLock(path.join(dir, `.${name}.lock`), { command: 'seed', timeoutMs: 300_000 });
  try {
    if (!existsSync(done)) {
      const file = path.join(dir, `${name}.txt`);
      writeFileSync(file, SEEDS[name]);
      const env = hermeticEnv(inject('wheels'), { HOME: dir });
      const terrarium = (args: string[]) => promisify(execFile)(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8' });
      const target = path.join(dir, `env-${name}-${format}`);
      await terrarium(['--storage-dir', store, '--no-cache', '--format', String(format), '-t', target, 'install', file]);
      rmSync(target, { recursive: true, force: true });
      writeFileSync(keyFile, (await terrarium(['key', file])).stdout.trim());
      writeFileSync(done, '');
    }
  } finally {
    await lock.release();
  }
  return { key: readFileSync(keyFile, 'utf8'), store };
}

/**
 * Puts the archive of a seed (its record and the archive or layers it names) into the storage directory
 * `store`, as a build of those requirements with the default interpreter would have published it.
 * Returns the key.
 */
export async function seedStore(name: SeedName, store: string, format: SeedFormat = 2): Promise<string> {
  const { key, store: from } = await seed(name, format);
  const record = JSON.parse(readFileSync(path.join(from, `${key}.json`), 'utf8')) as ArchiveRecord;
  mkdirSync(record.layers ? path.join(store, BLOBS_DIR) : store, { recursive: true });
  const files = record.layers ? record.layers.map((layer) => blobName(layer.sha256)) : [archiveName(record)];
  for (const file of [`${key}.json`, ...files]) copyFileSync(path.join(from, file), path.join(store, file));
  return key;
}
