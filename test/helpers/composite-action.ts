import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { run } from '../../src/io/exec.js';

interface ActionStep {
  id?: string;
  name?: string;
  if?: string;
  uses?: string;
  run?: string;
  shell?: string;
  env?: Record<string, string>;
  with?: Record<string, string>;
}

export interface ActionFile {
  inputs: Record<string, { default?: string; required?: boolean }>;
  outputs: Record<string, { value: string }>;
  runs: { using: string; steps: ActionStep[] };
}

export const readAction = (file: string): ActionFile => parse(readFileSync(file, 'utf8')) as ActionFile;

/** What one job's run of the action left: its log, the files the runner reads back, the outputs. */
export interface ActionRun {
  code: number;
  log: string;
  outputs: Record<string, string>;
  /** Each step's outputs, by id. */
  steps: Record<string, Record<string, string>>;
  /** Steps that use another action (actions/cache), with their `with:` as the runner would evaluate it. */
  used: Array<{ uses: string; with: Record<string, string> }>;
  env: string;
  path: string;
  summary: string;
}

/**
 * Runs a composite action as the runner does: each `run:` step in bash with its `env:` evaluated
 * (`${{ inputs.X }}`, `${{ steps.ID.outputs.Y }}`, the only expressions the action may use here) and
 * GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH, GITHUB_STEP_SUMMARY and RUNNER_TEMP set; a step that uses
 * another action is evaluated and recorded, not run. Stops at the first step that fails.
 */
export async function runComposite(actionDir: string, job: string, inputs: Record<string, string>, env: NodeJS.ProcessEnv, cwd: string): Promise<ActionRun> {
  const action = readAction(path.join(actionDir, 'action.yml'));
  mkdirSync(job, { recursive: true });
  const files = { GITHUB_ENV: 'env', GITHUB_PATH: 'path', GITHUB_STEP_SUMMARY: 'summary' } as const;
  const runnerEnv: NodeJS.ProcessEnv = { ...env, GITHUB_ACTION_PATH: actionDir, RUNNER_TEMP: path.join(job, 'temp'), RUNNER_OS: 'Linux' };
  mkdirSync(runnerEnv.RUNNER_TEMP!, { recursive: true });
  for (const [variable, name] of Object.entries(files)) {
    runnerEnv[variable] = path.join(job, name);
    writeFileSync(runnerEnv[variable]!, '');
  }
  const given = (name: string) => inputs[name] ?? action.inputs[name]?.default ?? '';
  const steps: Record<string, Record<string, string>> = {};
  const evaluate = (text: string) =>
    text.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, expression: string) => {
      const input = /^inputs\.([\w-]+)$/.exec(expression);
      if (input) return given(input[1]!);
      const output = /^steps\.([\w-]+)\.outputs\.([\w-]+)$/.exec(expression);
      if (output) return steps[output[1]!]?.[output[2]!] ?? '';
      throw new Error(`the emulated runner does not evaluate \${{ ${expression} }}`);
    });
  const condition = (text: string) => {
    const match = /^inputs\.([\w-]+) == '([^']*)'$/.exec(text.trim());
    if (!match) throw new Error(`the emulated runner does not evaluate if: ${text}`);
    return given(match[1]!) === match[2];
  };
  const result: ActionRun = { code: 0, log: '', outputs: {}, steps, used: [], env: '', path: '', summary: '' };
  for (const [index, step] of action.runs.steps.entries()) {
    if (step.if && !condition(step.if)) continue;
    if (step.uses) {
      result.used.push({ uses: step.uses, with: Object.fromEntries(Object.entries(step.with ?? {}).map(([k, v]) => [k, evaluate(String(v))])) });
      continue;
    }
    const output = path.join(job, `output-${index}`);
    writeFileSync(output, '');
    const stepEnv = Object.fromEntries(Object.entries(step.env ?? {}).map(([name, value]) => [name, evaluate(String(value))]));
    const ran = await run('bash', ['-e', '-c', step.run!], { cwd, env: { ...runnerEnv, ...stepEnv, GITHUB_OUTPUT: output } });
    result.log += ran.stdout + ran.stderr;
    if (step.id) steps[step.id] = parseOutputs(readFileSync(output, 'utf8'));
    if (ran.code !== 0) {
      result.code = ran.code ?? 1;
      break;
    }
  }
  result.outputs = Object.fromEntries(Object.entries(action.outputs).map(([name, output]) => [name, evaluate(output.value)]));
  for (const [variable, name] of Object.entries(files)) result[name] = readFileSync(runnerEnv[variable]!, 'utf8');
  return result;
}

/** The runner's reading of GITHUB_OUTPUT: `name=value` lines and `name<<DELIMITER` blocks. */
export function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const block = /^([\w-]+)<<(.+)$/.exec(line);
    if (block) {
      const end = lines.indexOf(block[2]!, i + 1);
      outputs[block[1]!] = lines.slice(i + 1, end).join('\n');
      i = end;
    } else if (line.includes('=')) {
      outputs[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return outputs;
}
