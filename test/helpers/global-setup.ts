import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { python3 } from './python.js';

declare module 'vitest' {
  export interface ProvidedContext {
    wheels: string;
    /** Where fixtures shared by the whole run are made, once, by the first test that needs them (seeds.ts). */
    fixtures: string;
  }
}

/** Once per run: the example wheels, for the default interpreter; tests copy what they need. */
export default function setup(project: TestProject): () => void {
  const fixtures = mkdtempSync(path.join(tmpdir(), 'terrarium-fixtures-'));
  const wheels = path.join(fixtures, 'wheels');
  execFileSync(python3(), [path.resolve('examples/wheels/build_wheels.py'), wheels], { stdio: 'inherit' });
  project.provide('wheels', wheels);
  project.provide('fixtures', fixtures);
  return () => rmSync(fixtures, { recursive: true, force: true });
}
