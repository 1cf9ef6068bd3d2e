import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'smol-toml';
import { TerrariumError } from '../errors.js';

/** Where a project's defaults were found, and what they say (keys as written, values as parsed). */
export interface ConfigFile {
  path: string;
  values: Record<string, unknown>;
}

/**
 * The nearest terrarium.toml, or pyproject.toml with a [tool.terrarium] table, from `cwd` upwards
 * (terrarium.toml first in each folder): a team commits its store and options once, and every
 * command run anywhere in the project picks them up.
 */
export function findConfigFile(cwd: string): ConfigFile | undefined {
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    const own = path.join(dir, 'terrarium.toml');
    if (existsSync(own)) return { path: own, values: parseToml(own) };
    const pyproject = path.join(dir, 'pyproject.toml');
    if (existsSync(pyproject)) {
      const table = (parseToml(pyproject).tool as Record<string, unknown> | undefined)?.terrarium;
      if (table !== undefined) {
        if (!isTable(table)) throw badFile(pyproject, '[tool.terrarium] is not a table');
        return { path: pyproject, values: table };
      }
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

function parseToml(file: string): Record<string, unknown> {
  try {
    return parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw badFile(file, error instanceof Error ? error.message.split('\n')[0]! : String(error));
  }
}

const isTable = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);

/** Where a key is set in a configuration file, as `FILE line N` (the file's name alone where no line says `key =`). */
export function whereSet(file: string, key: string): string {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return file;
  }
  const spellings = [key, key.replace(/-/g, '_')].map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  const at = text.split('\n').findIndex((line) => new RegExp(`^\\s*["']?(?:${spellings})["']?\\s*=`).test(line));
  return at < 0 ? file : `${file} line ${at + 1}`;
}

export function badFile(file: string, why: string): TerrariumError {
  return new TerrariumError('USAGE', `${file}: ${why}`, {
    hint: 'fix the file (keys are option names without the dashes: storage-dir = "/mnt/envs"; run terrarium config to check)',
  });
}
