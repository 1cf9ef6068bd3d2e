import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve('src');

/**
 * The folders of src from the top down: each may import only those after it. docs/architecture.md says
 * what each one owns.
 */
const LAYERS = [
  'action',
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

/** Every relative import (static, type-only or dynamic) of every source file, by path under src (`.ts` for `.js`). */
function imports(): Array<{ file: string; imported: string }> {
  const found = [];
  for (const name of readdirSync(SRC, { recursive: true, encoding: 'utf8' })) {
    if (!/\.(ts|js)$/.test(name)) continue;
    for (const [, spec] of readFileSync(path.join(SRC, name), 'utf8').matchAll(/(?:from\s+|import\s*\(\s*)'(\.\.?\/[^']+)'/g)) {
      const imported = path.relative(SRC, path.resolve(SRC, path.dirname(name), spec!)).replace(/\.js$/, '.ts');
      found.push({ file: name, imported });
    }
  }
  return found;
}

/** Every import that crosses a layer, as "file -> layer". */
function crossings(): Array<{ file: string; from: string; to: string }> {
  return imports()
    .map(({ file, imported }) => ({ file, from: layerOf(path.join(SRC, file)), to: layerOf(path.join(SRC, imported)) }))
    .filter(({ from, to }) => from !== to);
}

/** The import cycles among files (each as its files in order), found by a depth-first walk. */
function cycles(): string[][] {
  const edges = new Map<string, string[]>();
  for (const { file, imported } of imports()) edges.set(file, [...(edges.get(file) ?? []), imported]);
  const found: string[][] = [];
  const done = new Set<string>();
  const visit = (file: string, trail: string[]) => {
    const at = trail.indexOf(file);
    if (at >= 0) return void found.push(trail.slice(at));
    if (done.has(file)) return;
    for (const next of edges.get(file) ?? []) visit(next, [...trail, file]);
    done.add(file);
  };
  for (const file of edges.keys()) visit(file, []);
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

  it('hold no import cycle between files, type-only imports included', () => {
    expect(cycles().map((cycle) => cycle.join(' -> '))).toEqual([]);
  });

  it('are what the order says: the command line sits on the install pipeline, which sits on the stores', () => {
    const edges = new Set(crossings().map(({ from, to }) => `${from} -> ${to}`));
    for (const edge of ['cli -> install', 'install -> target', 'install -> cache', 'cache -> stores', 'stores -> archive']) expect(edges).toContain(edge);
  });
});
