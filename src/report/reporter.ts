import { TerrariumError } from '../errors.js';

export type Verbosity = -1 | 0 | 1 | 2;

/** Everything the tool says goes through here; stdout carries only a command's answer. */
export interface Reporter {
  /** The command's answer (a key, a digest): stdout, shown even with --quiet. */
  result(text: string): void;
  info(text: string): void;
  warn(text: string): void;
  /** -V: commands run, store lookups, timings. */
  detail(text: string): void;
  /** -VV: everything else, including the output of the programs terrarium runs. */
  debug(text: string): void;
  /** Output of a program that failed, shown before the error that reports it. */
  failureOutput(text: string): void;
  error(error: unknown): void;
  readonly verbosity: Verbosity;
}

export interface ReporterStreams {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** Plain lines on stderr; secrets (S3 keys) are replaced before anything is written. */
export function plainReporter(streams: ReporterStreams, verbosity: Verbosity, secrets: readonly string[] = []): Reporter {
  const mask = (text: string) => secrets.filter((s) => s.length > 0).reduce((out, secret) => out.split(secret).join('***'), text);
  const line = (text: string) => streams.stderr.write(`${mask(text)}\n`);
  return {
    verbosity,
    result: (text) => streams.stdout.write(`${mask(text)}\n`),
    info: (text) => verbosity >= 0 && line(`terrarium: ${text}`),
    warn: (text) => verbosity >= 0 && line(`terrarium: warning: ${text}`),
    detail: (text) => verbosity >= 1 && line(`terrarium: ${text}`),
    debug: (text) => verbosity >= 2 && line(`terrarium: ${text}`),
    failureOutput: (text) => text.trim() && streams.stderr.write(mask(text.endsWith('\n') ? text : `${text}\n`)),
    error: (error) => {
      if (error instanceof TerrariumError) {
        line(`terrarium: error: ${error.message}`);
        if (error.hint) line(`terrarium: hint: ${error.hint}`);
        if (verbosity >= 2 && error.cause instanceof Error && error.cause.stack) line(error.cause.stack);
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      line(`terrarium: internal error: ${message}`);
      if (verbosity >= 2 && error instanceof Error && error.stack) line(error.stack);
      else line('terrarium: hint: run again with -VV for details, and report it if it persists');
    },
  };
}
