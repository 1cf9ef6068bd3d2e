import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { RequirementSet } from '../key/requirements.js';
import { pythonScript } from '../python/scripts.js';

export const BOOTSTRAP_PATH = 'bin/terrarium_bootstrap.py';

/** Requirement files renamed `requirements-N.txt`, with their `-r`/`-c` lines pointing at the new names. */
export function embeddedRequirementFiles(set: RequirementSet): { files: Record<string, string[]>; roots: string[] } {
  const name = (index: number) => `requirements-${index + 1}.txt`;
  const files: Record<string, string[]> = {};
  set.files.forEach((file, index) => {
    files[name(index)] = file.entries.map((entry) => (entry.kind === 'line' ? entry.text : `${entry.flag} ${name(entry.file)}`));
  });
  return { files, roots: set.roots.map(name) };
}

/** The script's text: JSON documents embedded as Python string literals (JSON escapes are valid Python). */
export async function bootstrapScript(set: RequirementSet): Promise<string> {
  const { files, roots } = embeddedRequirementFiles(set);
  const template = await fs.readFile(pythonScript('bootstrap.py'), 'utf8');
  return template
    .replace('__TERRARIUM_FILES__', () => JSON.stringify(JSON.stringify(files)))
    .replace('__TERRARIUM_ROOTS__', () => JSON.stringify(JSON.stringify(roots)));
}

export async function writeBootstrap(envRoot: string, set: RequirementSet): Promise<void> {
  const file = path.join(envRoot, BOOTSTRAP_PATH);
  await fs.writeFile(file, await bootstrapScript(set), { mode: 0o755 });
}
