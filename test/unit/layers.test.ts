import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve('src');

/** The layer of a source file: its top folder under src, or the file itself for those at the root (errors, version, index). */
const layerOf = (file: string): string => path.relative(SRC, file).split(path.sep)[0]!;

/** Every relative import (static, type-only or dynamic) between layers, as layer -> layers. */
function layerGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const name of readdirSync(SRC, { recursive: true, encoding: 'utf8' })) {
    if (!/\.(ts|js)$/.test(name)) continue;
    const file = path.join(SRC, name);
    const from = layerOf(file);
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from\s+|import\s*\(\s*)'(\.\.?\/[^']+)'/g)) {
      const to = layerOf(path.resolve(path.dirname(file), spec!));
      if (to === from) continue;
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from)!.add(to);
    }
  }
  return graph;
}

/** Imports between folders run one way: a cycle would make neither folder understandable (or testable) without the other. */
describe('the layers of src', () => {
  it('import each other without a cycle', () => {
    const graph = layerGraph();
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (layer: string, trail: string[]): void => {
      state.set(layer, 'open');
      for (const next of graph.get(layer) ?? []) {
        if (state.get(next) === 'open') cycles.push([...trail.slice(trail.indexOf(next)), layer, next].join(' -> '));
        else if (!state.has(next)) visit(next, [...trail, layer]);
      }
      state.set(layer, 'done');
    };
    for (const layer of [...graph.keys()].sort()) if (!state.has(layer)) visit(layer, []);
    expect(cycles).toEqual([]);
    // The graph is what it claims to be: the command line sits on the install pipeline, which sits on the stores.
    expect(graph.get('cli')).toContain('install');
    expect(graph.get('install')).toContain('stores');
  });
});
