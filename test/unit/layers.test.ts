import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve('src');

/**
 * The folders of src from the top down: each may import only those after it. docs/architecture.md says
 * what each one owns.
 */
const LAYERS = [
  'cli',
  'index.ts',
  'install',
  'env',
  'target',
  'key',
  'cache',
  'stores',
  'sign',
  'archive',
  'relocate',
  'python',
  'report',
  'io',
  'errors.ts',
  'version.ts',
];

/** The layer of a source file: its top folder under src, or the file itself for those at the root. */
const layerOf = (file: string): string => path.relative(SRC, file).split(path.sep)[0]!.replace(/\.js$/, '.ts');

/** Every relative import (static, type-only or dynamic) that crosses a layer, as "file -> layer". */
function crossings(): Array<{ file: string; from: string; to: string }> {
  const found = [];
  for (const name of readdirSync(SRC, { recursive: true, encoding: 'utf8' })) {
    if (!/\.(ts|js)$/.test(name)) continue;
    const file = path.join(SRC, name);
    const from = layerOf(file);
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from\s+|import\s*\(\s*)'(\.\.?\/[^']+)'/g)) {
      const to = layerOf(path.resolve(path.dirname(file), spec!));
      if (to !== from) found.push({ file: name, from, to });
    }
  }
  return found;
}

describe('the layers of src', () => {
  it('are all named in the order', () => {
    const layers = new Set(readdirSync(SRC).map((name) => layerOf(path.join(SRC, name))));
    expect([...layers].sort()).toEqual([...LAYERS].sort());
  });

  it('import only downwards', () => {
    const upward = crossings()
      .filter(({ from, to }) => LAYERS.indexOf(to) < LAYERS.indexOf(from))
      .map(({ file, to }) => `${file} imports ${to}`);
    expect(upward).toEqual([]);
  });

  it('are what the order says: the command line sits on the install pipeline, which sits on the stores', () => {
    const edges = new Set(crossings().map(({ from, to }) => `${from} -> ${to}`));
    for (const edge of ['cli -> install', 'install -> target', 'install -> cache', 'cache -> stores', 'stores -> archive']) expect(edges).toContain(edge);
  });
});
