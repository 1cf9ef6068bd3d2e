import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { vi } from 'vitest';
import type { RunOptions, RunResult } from '../../src/io/exec.js';

/** Longer than any one run of terrarium takes in the suite (40 s at most under CI's load), well within a test's timeout. */
const HUNG_AFTER_MS = 120_000;

/**
 * The Node options that let a run be asked for a diagnostic report (what it waits on: its open
 * handles, child processes, sockets and timers) when it does not end: a hang then fails its test with
 * that report instead of a bare timeout.
 */
export function reportOptions(dir: string): string {
  return `--report-on-signal --report-signal=SIGUSR2 --report-directory=${dir}`;
}

/**
 * Runs `start` (a run of Node that took `reportOptions(dir)`); when it has not ended after `hungAfterMs`,
 * takes its report, kills it and its processes, and throws what the report says.
 */
export async function unlessHung(
  what: string,
  dir: string,
  watch: Pick<RunOptions, 'onSpawn'>,
  start: (onSpawn: NonNullable<RunOptions['onSpawn']>) => Promise<RunResult>,
  hungAfterMs = HUNG_AFTER_MS,
): Promise<RunResult> {
  let pid: number | undefined;
  let report: Promise<string> | undefined;
  const timer = setTimeout(() => (report = pid === undefined ? Promise.resolve('(never started)') : takeReport(pid, dir)), hungAfterMs);
  try {
    const result = await start((child) => {
      pid = child.pid;
      watch.onSpawn?.(child);
    });
    if (report) throw new Error(`${what} did not end within ${hungAfterMs / 1000} s\n${await report}\nits stderr:\n${result.stderr}`);
    return result;
  } finally {
    clearTimeout(timer);
  }
}

async function takeReport(pid: number, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const before = new Set(readdirSync(dir));
  const children = descendants(pid);
  let summary: string;
  try {
    process.kill(pid, 'SIGUSR2');
    // Read once it parses: Node writes it in pieces.
    const report = await vi.waitFor(
      () => {
        const made = readdirSync(dir).find((name) => !before.has(name) && name.endsWith('.json'));
        if (!made) throw new Error('no report yet');
        return JSON.parse(readFileSync(path.join(dir, made), 'utf8')) as NodeReport;
      },
      { timeout: 10_000, interval: 100 },
    );
    summary = summarise(report);
  } catch (error) {
    summary = `(no report: ${(error as Error).message})`;
  }
  const processes = children.length ? execFileSync('ps', ['-o', 'pid,ppid,etime,args', '-p', children.join(',')], { encoding: 'utf8' }) : 'none';
  for (const child of [pid, ...children]) {
    try {
      process.kill(child, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  return `${summary}\nits processes: ${processes}`;
}

interface NodeReport {
  javascriptStack?: { message?: string; stack?: string[] };
  libuv?: Array<Record<string, unknown>>;
  workers?: NodeReport[];
}

/** What keeps the process alive: its JavaScript stack and the handles that hold its loop (a worker's too). */
function summarise(report: NodeReport): string {
  const handles = (report.libuv ?? []).filter((handle) => handle.is_active && handle.is_referenced).map((handle) => JSON.stringify(handle));
  const stack = report.javascriptStack?.stack?.join('\n') ?? '';
  const workers = (report.workers ?? []).map((worker, index) => `worker ${index}:\n${summarise(worker)}`);
  return [`stack: ${report.javascriptStack?.message ?? ''}\n${stack}`, `active handles:\n${handles.join('\n')}`, ...workers].join('\n');
}

/** Every process started under `pid`, however deep. */
function descendants(pid: number): number[] {
  let table: string;
  try {
    table = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' });
  } catch {
    return [];
  }
  const parentOf = table
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  for (let frontier = [pid]; frontier.length; ) {
    frontier = parentOf.filter(([, parent]) => frontier.includes(parent)).map(([child]) => child);
    found.push(...frontier);
  }
  return found;
}
