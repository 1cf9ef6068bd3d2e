import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { run } from '../../src/io/exec.js';
import { reportOptions, unlessHung } from '../helpers/hang-report.js';

const dir = mkdtempSync(path.join(tmpdir(), 'terrarium-hang-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Whether a process runs: its state in /proc is neither gone nor Z. */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const node = (code: string) => (onSpawn: Parameters<Parameters<typeof unlessHung>[3]>[0]) =>
  run(process.execPath, ['-e', code], { env: { ...process.env, NODE_OPTIONS: reportOptions(dir) }, onSpawn });

it('a run that does not end fails with what holds it open, its child processes included, and is killed', async () => {
  // A timer every second and a child that sleeps: what a run stuck on a leaked handle looks like.
  const hung = node("require('child_process').spawn('sleep', ['600'], { stdio: 'ignore' }); setInterval(() => {}, 1000);");
  const error = await unlessHung('the stuck run', dir, {}, hung, 1500).catch((caught: Error) => caught);
  expect(error).toBeInstanceOf(Error);
  const message = (error as Error).message;
  expect(message).toContain('the stuck run did not end within 1.5 s');
  expect(message).toMatch(/"type":"timer","is_active":true,"is_referenced":true/);
  const child = Number(/"type":"process".*"pid":(\d+)/.exec(message)?.[1]);
  expect(message).toMatch(new RegExp(`${child} +\\d+ +[\\d:]+ sleep 600`));
  // Killed, the stuck run's children too (gone, or a zombie left for its new parent to reap).
  await vi.waitFor(() => expect(running(child)).toBe(false), { timeout: 5000, interval: 50 });
});

it('a run that ends is its result', async () => {
  const result = await unlessHung('a quick run', dir, {}, node('process.exitCode = 3'), 30_000);
  expect(result.code).toBe(3);
});
