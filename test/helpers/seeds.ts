import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { inject } from 'vitest';
import { type ArchiveRecord, archiveName } from '../../src/stores/store.js';

/** The requirement sets archived once per run (global-setup.ts), by name. */
export const SEEDS = {
  demo: 'terra-demo\n',
  dep: 'terra-dep\n',
  cext: 'terra-cext\n',
  'demo-cext': 'terra-demo\nterra-cext\n',
} as const;

export interface Seeds {
  store: string;
  keys: Record<string, string>;
}

/**
 * Puts the archive of a seed (its record and the archive it names) into the storage directory `store`,
 * as a build of those requirements with the default interpreter would have published it. Returns the key.
 */
export function seedStore(name: keyof typeof SEEDS, store: string): string {
  const seeds = inject('seeds');
  const key = seeds.keys[name]!;
  const record = JSON.parse(readFileSync(path.join(seeds.store, `${key}.json`), 'utf8')) as ArchiveRecord;
  mkdirSync(store, { recursive: true });
  for (const file of [`${key}.json`, archiveName(record)]) copyFileSync(path.join(seeds.store, file), path.join(store, file));
  return key;
}
