import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ResolvedInputs } from '../key/inputs.js';
import type { RequirementSet } from '../key/requirements.js';
import { pythonScript } from '../python/scripts.js';
import { LOCKED_OWN_SOURCES, pipPlan } from './pip-plan.js';

export const BOOTSTRAP_PATH = 'bin/terrarium_bootstrap.py';

/**
 * The files and `pip install` runs that rebuild the environment: requirement files renamed
 * `requirements-N.txt` (their `-r`/`-c` lines pointing at the new names) and the locked set.
 */
export function embeddedInstalls(set: RequirementSet, inputs: ResolvedInputs): { files: Record<string, string>; installs: string[][] } {
  const name = (index: number) => `requirements-${index + 1}.txt`;
  const files: Record<string, string> = {};
  set.files.forEach((file, index) => {
    files[name(index)] = `${file.entries.map((entry) => (entry.kind === 'line' ? entry.text : `${entry.flag} ${name(entry.file)}`)).join('\n')}\n`;
  });
  const plan = pipPlan(inputs, (file) => name(set.files.findIndex((f) => f.path === file)));
  // The script runs pip the simple way: the lock's sources and the user's together, with no second run.
  const { [LOCKED_OWN_SOURCES]: _, ...planFiles } = plan.files;
  return { files: { ...files, ...planFiles }, installs: plan.installs };
}

/** The script's text: JSON documents embedded as Python string literals (JSON escapes are valid Python). */
export async function bootstrapScript(resolved: { requirements: RequirementSet; inputs: ResolvedInputs }): Promise<string> {
  const { files, installs } = embeddedInstalls(resolved.requirements, resolved.inputs);
  const template = await fs.readFile(pythonScript('bootstrap.py'), 'utf8');
  return template
    .replace('__TERRARIUM_FILES__', () => JSON.stringify(JSON.stringify(files)))
    .replace('__TERRARIUM_INSTALLS__', () => JSON.stringify(JSON.stringify(installs)));
}

export async function writeBootstrap(envRoot: string, resolved: { requirements: RequirementSet; inputs: ResolvedInputs }): Promise<void> {
  const file = path.join(envRoot, BOOTSTRAP_PATH);
  await fs.writeFile(file, await bootstrapScript(resolved), { mode: 0o755 });
}
