import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';
import { acquireLock } from '../../src/io/lock.js';
import { type ArchiveRecord, archiveName } from '../../src/stores/store.js';
import { BIN, hermeticEnv } from './hermetic.js';

/** The requirement sets archived once per run, by name. */
export const SEEDS = {
  demo: 'terra-demo\n',
  dep: 'terra-dep\n',
  cext: 'terra-cext\n',
  'demo-cext': 'terra-demo\nterra-cext\n',
} as const;

export type SeedName = keyof typeof SEEDS;

/**
 * The archive of a seed, built by the first test of the run that asks for it (the others wait on its
 * lock, across workers) with the default interpreter; returns its key and the storage directory
 * holding it. A build is 3-5 s here; copying its archive, nothing.
 */
async function seed(name: SeedName): Promise<{ key: string; store: string }> {
  const dir = path.join(inject('fixtures'), 'seeds');
  mkdirSync(dir, { recursive: true });
  const store = path.join(dir, 'store');
  const keyFile = path.join(dir, `${name}.key`);
  const lock = await acquireLock(path.join(dir, `.${name}.lock`), { command: 'seed', timeoutMs: 300_000 });
  try {
    if (!existsSync(keyFile)) {
      const file = path.join(dir, `${name}.txt`);
      writeFileSync(file, SEEDS[name]);
      const env = hermeticEnv(inject('wheels'), { HOME: dir });
      const terrarium = (args: string[]) => promisify(execFile)(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8' });
      const target = path.join(dir, `env-${name}`);
      await terrarium(['--storage-dir', store, '--no-cache', '-t', target, 'install', file]);
      rmSync(target, { recursive: true, force: true });
      writeFileSync(keyFile, (await terrarium(['key', file])).stdout.trim());
    }
  } finally {
    await lock.release();
  }
  return { key: readFileSync(keyFile, 'utf8'), store };
}

/**
 * Puts the archive of a seed (its record and the archive it names) into the storage directory `store`,
 * as a build of those requirements with the default interpreter would have published it. Returns the key.
 */
export async function seedStore(name: SeedName, store: string): Promise<string> {
  const { key, store: from } = await seed(name);
  const record = JSON.parse(readFileSync(path.join(from, `${key}.json`), 'utf8')) as ArchiveRecord;
  mkdirSync(store, { recursive: true });
  for (const file of [`${key}.json`, archiveName(record)]) copyFileSync(path.join(from, file), path.join(store, file));
  return key;
}
