import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { BIN, hermeticEnv } from './cli.js';
import { python3 } from './python.js';
import { SEEDS, type Seeds } from './seeds.js';

declare module 'vitest' {
  export interface ProvidedContext {
    wheels: string;
    seeds: Seeds;
  }
}

/**
 * Once per run, for the default interpreter: the example wheels, and an archive of each common
 * requirement set (SEEDS) in a storage directory. Tests copy what they need; a test whose point is not
 * the build restores from a seed instead of building again (a build is 7-9 s here, mostly venv's
 * ensurepip; a restore about 1 s).
 */
export default async function setup(project: TestProject): Promise<() => void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'terrarium-fixtures-'));
  const wheels = path.join(dir, 'wheels');
  execFileSync(python3(), [path.resolve('examples/wheels/build_wheels.py'), wheels], { stdio: 'inherit' });
  const store = path.join(dir, 'store');
  const env = hermeticEnv(wheels, { HOME: dir });
  const keys: Record<string, string> = {};
  const build = async (name: keyof typeof SEEDS): Promise<void> => {
    const file = path.join(dir, `${name}.txt`);
    writeFileSync(file, SEEDS[name]);
    const terrarium = (args: string[]) => promisify(execFile)(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8' });
    await terrarium(['--storage-dir', store, '--no-cache', '-t', path.join(dir, `env-${name}`), 'install', file]);
    keys[name] = (await terrarium(['key', file])).stdout.trim();
    rmSync(path.join(dir, `env-${name}`), { recursive: true, force: true });
  };
  mkdirSync(store);
  // Two at a time: the machine has two cores, and a build spends most of its time in one process.
  const names = Object.keys(SEEDS) as Array<keyof typeof SEEDS>;
  for (let i = 0; i < names.length; i += 2) await Promise.all(names.slice(i, i + 2).map(build));
  project.provide('wheels', wheels);
  project.provide('seeds', { store, keys });
  return () => rmSync(dir, { recursive: true, force: true });
}
