import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { main } from '../../src/cli/main.js';
import { type RunOptions, type RunResult, run } from '../../src/io/exec.js';
import { reportOptions, unlessHung } from './hang-report.js';
import { BIN, hermeticEnv } from './hermetic.js';
import { type SeedFormat, type SeedName, seedStore } from './seeds.js';

export { BIN, hermeticEnv };

export type CliResult = RunResult;

/** A scratch directory with its own copy of the wheels (so a test can delete them to prove a hit used none). */
export class Sandbox {
  readonly dir: string;
  readonly wheels: string;
  readonly store: string;
  env: NodeJS.ProcessEnv;

  constructor() {
    this.dir = mkdtempSync(path.join(tmpdir(), 'terrarium-test-'));
    this.wheels = path.join(this.dir, 'wheels');
    this.store = path.join(this.dir, 'store');
    cpSync(inject('wheels'), this.wheels, { recursive: true });
    this.env = hermeticEnv(this.wheels, { HOME: this.dir });
  }

  /** Puts the archive of a seed requirement set into `store` (the sandbox's storage directory unless given); returns its key. */
  seed(name: SeedName, store = this.store, format: SeedFormat = 2): Promise<string> {
    return seedStore(name, store, format);
  }

  /** A path as terrarium shows it on stderr: under the sandbox, which is HOME, as ~/… */
  shown(file: string): string {
    return file.startsWith(`${this.dir}/`) ? `~/${file.slice(this.dir.length + 1)}` : file;
  }

  path(...parts: string[]): string {
    return path.join(this.dir, ...parts);
  }

  write(name: string, text: string): string {
    const file = this.path(name);
    writeFileSync(file, text);
    return file;
  }

  /** Runs terrarium; one that does not end fails the test with what it waits on (hang-report.ts). */
  terrarium(args: string[], env: NodeJS.ProcessEnv = {}, watch: Pick<RunOptions, 'onSpawn' | 'onOutput'> = {}): Promise<CliResult> {
    const reports = this.path('.hang-reports');
    return unlessHung(`terrarium ${args.join(' ')}`, reports, watch, (onSpawn) =>
      run(process.execPath, [BIN, ...args], { cwd: this.dir, env: { NODE_OPTIONS: reportOptions(reports), ...this.env, ...env }, ...watch, onSpawn }),
    );
  }

  /**
   * Runs the command line in this process, as `terrarium` would from the sandbox: for tests of what a
   * command answers, where starting Node and loading the bundle again (~150 ms a call) is not the point.
   */
  async main(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    let stdout = '';
    let stderr = '';
    const code = await main(args, {
      env: { ...this.env, ...env },
      cwd: this.dir,
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text), isTTY: false },
    });
    return { code, signal: null, stdout, stderr };
  }

  /** Runs a command inside the sandbox (or in `cwd`), with the sandbox's environment. */
  exec(command: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd = this.dir): Promise<CliResult> {
    return run(command, args, { cwd, env: { ...this.env, ...env } });
  }

  cleanup(): void {
    // rm(1) removes a tree of environments in half the time fs.rmSync takes.
    execFileSync('rm', ['-rf', this.dir]);
  }
}

/** stderr without the timestamped progress lines (`terrarium: 08:37:53 key: …`): what is left is what went wrong. */
export function withoutProgress(stderr: string): string[] {
  return stderr
    .trim()
    .split('\n')
    .filter((line) => !/^terrarium: \d\d:\d\d:\d\d \S+: /.test(line));
}

/** A loopback port nothing listens on any more (a server there was just stopped): connections to it are refused. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
