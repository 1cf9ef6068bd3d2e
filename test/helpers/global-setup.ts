import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { python3 } from './python.js';

declare module 'vitest' {
  export interface ProvidedContext {
    wheels: string;
  }
}

/** Builds the example wheels once per run, for the default interpreter; tests copy what they need. */
export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(path.join(tmpdir(), 'terrarium-wheels-'));
  execFileSync(python3(), [path.resolve('examples/wheels/build_wheels.py'), dir], { stdio: 'inherit' });
  project.provide('wheels', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
