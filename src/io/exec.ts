import { type ChildProcess, spawn } from 'node:child_process';

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
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      signal: options.signal,
    });
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

/** What a process started on restored content may see of terrarium's environment: nothing that can hold a credential. */
const ARCHIVE_CODE_VARIABLES = /^(PATH|HOME|USER|LOGNAME|LANG|LANGUAGE|LC_[A-Z]+|TMPDIR|TZ|TERM)$/;

/**
 * The environment for programs that run code from an archive or the cache (the smoke check's Python
 * executes the environment's .pth files): an allow-list, so no S3_*, AWS_*, TERRARIUM_*, PIP_* or any
 * other secret reaches them.
 */
export function archiveCodeEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => ARCHIVE_CODE_VARIABLES.test(name)));
}

/** Python's flags for such a program: isolated mode (-I, 3.4+), else no environment variables and no user site. */
export function isolatedPythonFlags(version: readonly number[] | undefined): string[] {
  const [major = 0, minor = 0] = version ?? [];
  return major > 3 || (major === 3 && minor >= 4) ? ['-I'] : ['-E', '-s'];
}
