import { appendFileSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { main } from '../cli/main.js';

export { abortOnSignals } from '../cli/interrupt.js';

import { EXIT } from '../errors.js';
import { type ActionPlan, cacheKeys, inputsOf, planAction, type SummaryRow, summaryTable } from './inputs.js';

/** What the runner gives a step: its environment (INPUT_*, GITHUB_*, RUNNER_*), its directory and its log. */
export interface RunnerContext {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** The step's log, where workflow commands (`::add-mask::`, `::error::`) go too. */
  log: { write(text: string): unknown };
  signal?: AbortSignal;
}

/**
 * One step of the action (action.yml): `prepare` says the key and the cache's keys for actions/cache;
 * `install` installs, then sets the outputs (key, hit, source), VIRTUAL_ENV and PATH for the steps
 * after it, and a row of the step summary. Returns the exit status terrarium gave.
 */
export async function runAction(step: string, runner: RunnerContext): Promise<number> {
  let plan: ActionPlan;
  try {
    plan = planAction(inputsOf(runner.env));
  } catch (error) {
    runner.log.write(`::error title=terrarium::${escapeData((error as Error).message)}\n`);
    return EXIT.usage;
  }
  // Before anything else is written: the runner hides what it is told to mask from every later line.
  for (const secret of plan.secrets) runner.log.write(`::add-mask::${escapeData(secret)}\n`);
  if (step === 'prepare') return prepare(plan, runner);
  if (step === 'install') return installStep(plan, runner);
  runner.log.write(`::error title=terrarium::unknown step "${escapeData(step)}" (prepare or install)\n`);
  return EXIT.usage;
}

async function prepare(plan: ActionPlan, runner: RunnerContext): Promise<number> {
  const key = await terrarium(plan, runner, [...plan.options, 'key', ...plan.files]);
  if (key.status !== EXIT.ok) return failed(runner, 'key', key);
  const dir = await terrarium(plan, runner, [...plan.options, 'cache', 'dir']);
  if (dir.status !== EXIT.ok) return failed(runner, 'cache dir', dir);
  const os = runner.env.RUNNER_OS ?? process.platform;
  const keys = cacheKeys(os, String(key.document.key), String(key.document.digest));
  setOutputs(runner.env, {
    key: String(key.document.key),
    'cache-dir': String(dir.document.cacheDir ?? ''),
    'cache-key': keys.key,
    'restore-keys': keys.restore.join('\n'),
  });
  return EXIT.ok;
}

async function installStep(plan: ActionPlan, runner: RunnerContext): Promise<number> {
  const { env } = runner;
  // A key given as text goes to a file only this user reads, in the job's temporary folder, for this step alone.
  const keyDir = plan.signKeyText ? await fs.mkdtemp(path.join(env.RUNNER_TEMP || runner.cwd, 'terrarium-sign-')) : undefined;
  try {
    const signKey = keyDir && path.join(keyDir, 'sign.key');
    if (signKey) await fs.writeFile(signKey, plan.signKeyText!, { mode: 0o600 });
    const options = signKey ? [...plan.options, '--sign-key', signKey] : plan.options;
    const run = await terrarium(plan, runner, [...options, '-t', plan.target, 'install', ...plan.files]);
    const doc = run.document;
    if (run.status !== EXIT.ok) {
      summarise(env, { key: '', result: `failed (exit ${run.status})`, seconds: 0, bytes: 0 });
      return failed(runner, 'install', run);
    }
    const target = String(doc.target);
    setOutputs(env, { key: String(doc.key), hit: String(doc.hit), source: String(doc.source), target });
    appendTo(env.GITHUB_ENV, `VIRTUAL_ENV=${target}\n`);
    appendTo(env.GITHUB_PATH, `${path.join(target, 'bin')}\n`);
    const result = doc.unchanged ? 'unchanged' : doc.hit ? `hit (${doc.source})` : 'built';
    summarise(env, { key: String(doc.key), result, seconds: Number(doc.seconds), bytes: Number(doc.bytes) });
    return EXIT.ok;
  } finally {
    if (keyDir) await fs.rm(keyDir, { recursive: true, force: true });
  }
}

interface TerrariumRun {
  status: number;
  document: Record<string, unknown>;
}

/** Runs terrarium's command line in this process, with --json: its words go to the log, its document comes back. */
async function terrarium(plan: ActionPlan, runner: RunnerContext, args: string[]): Promise<TerrariumRun> {
  let stdout = '';
  // The inputs stay out of what terrarium (and the pip it runs) sees: credentials reach it under their own names only.
  const env = { ...Object.fromEntries(Object.entries(runner.env).filter(([name]) => !name.startsWith('INPUT_'))), ...plan.env };
  const status = await main(['--json', ...args], {
    env,
    cwd: runner.cwd,
    stdout: { write: (text: string) => (stdout += text) },
    stderr: runner.log,
    ...(runner.signal ? { signal: runner.signal } : {}),
  });
  let document: Record<string, unknown>;
  try {
    document = JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    document = { error: { message: `terrarium printed no result (exit ${status})` } };
  }
  return { status, document };
}

/** An error annotation with terrarium's message and hint; the step fails with terrarium's status. */
function failed(runner: RunnerContext, command: string, run: TerrariumRun): number {
  const error = (run.document.error ?? {}) as { message?: string; hint?: string | null };
  const text = [error.message ?? 'failed', error.hint].filter(Boolean).join(': ');
  runner.log.write(`::error title=terrarium ${command}::${escapeData(text)}\n`);
  return run.status === EXIT.ok ? EXIT.internal : run.status;
}

function setOutputs(env: NodeJS.ProcessEnv, outputs: Record<string, string>): void {
  for (const [name, value] of Object.entries(outputs)) {
    // The runner's multi-line form, with a delimiter no value holds.
    const delimiter = `terrarium_${Math.random().toString(36).slice(2)}`;
    appendTo(env.GITHUB_OUTPUT, value.includes('\n') ? `${name}<<${delimiter}\n${value}\n${delimiter}\n` : `${name}=${value}\n`);
  }
}

function summarise(env: NodeJS.ProcessEnv, row: SummaryRow): void {
  appendTo(env.GITHUB_STEP_SUMMARY, summaryTable([row]));
}

/** Appends to one of the runner's files; outside a runner (the variable unset) there is none. */
function appendTo(file: string | undefined, text: string): void {
  if (file) appendFileSync(file, text);
}

/** A workflow command's data: the runner reads `%`, CR and LF escaped. */
const escapeData = (text: string): string => text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
