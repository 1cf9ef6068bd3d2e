import { spawn, type ChildProcess } from 'node:child_process';

export interface RunResult {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Called with each chunk of the child's combined output (to show pip's progress live). */
  onOutput?: (chunk: string) => void;
  /** Aborting stops the program (SIGTERM) and rejects with the abort's reason. */
  signal?: AbortSignal | undefined;
  /** Receives the started process (the crash tests use it to signal terrarium at chosen moments). */
  onSpawn?: (child: ChildProcess) => void;
  /** Give the program a pipe on stdin (written through onSpawn's child) instead of nothing. */
  stdin?: boolean;
}

/**
 * Runs a program without a shell (arguments are never re-parsed, so paths with spaces are safe) and
 * collects its output. Rejects only when the program cannot be started at all (ENOENT, EACCES).
 */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], signal: options.signal });
    options.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      options.onOutput?.(chunk);
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      options.onOutput?.(chunk);
    });
    child.on('error', (error) => reject(options.signal?.aborted ? options.signal.reason : error));
    child.on('close', (code, signal) => resolve({ code: code ?? 128, signal, stdout, stderr }));
  });
}
