import { TerrariumError } from '../errors.js';
import type { ReportEvent, WarningRecord } from './events.js';
import { StderrLines } from './stderr-lines.js';
import { describeEvent } from './words.js';

export type Verbosity = -1 | 0 | 1 | 2;

/** A step of a command (download, build, pack…) that takes long enough to be watched. */
export interface Phase {
  /** Ends the phase with its one-line summary (the library's as an event); the duration is added. */
  done(summary: string | ReportEvent): void;
  /** Ends the phase without a line (it failed, and the error says why). */
  end(): void;
}

/** Everything the tool says goes through here; stdout carries only a command's answer. */
export interface Reporter {
  /** The command's answer (a key, a digest): stdout, shown even with --quiet. */
  result(text: string): void;
  /** The command's answer as one JSON document (--json), with the warnings said so far: stdout, shown even with --quiet. */
  document(value: object): void;
  /** The library says what happens as events; a command (the edge) may say its own words. */
  info(message: string | ReportEvent): void;
  /** Always an event: its code goes into --json. */
  warn(event: ReportEvent): void;
  /** -V: commands run, store lookups, timings. */
  detail(message: string | ReportEvent): void;
  /** -VV: everything else, including the output of the programs terrarium runs. */
  debug(text: string): void;
  /** Output of a program that failed, shown before the error that reports it. */
  failureOutput(text: string): void;
  error(error: unknown): void;
  /**
   * Starts a phase. On a terminal, a live line shows `status()` (polled ten times a second) until the
   * phase ends and its summary replaces it; elsewhere a line with the status and the time so far is
   * printed every 10 s, so that a CI log shows a long phase moving, and the summary as one timestamped line.
   */
  phase(name: string, status?: () => string): Phase;
  /**
   * Runs `work` as a phase that closes itself: `work` ends it with `phase.done(summary)`; if it throws
   * (or returns without a summary) the phase ends without a line, and the error says why.
   */
  during<T>(name: string, work: (phase: Phase) => Promise<T>, status?: () => string): Promise<T>;
  readonly verbosity: Verbosity;
}

export interface ReporterStreams {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
}

export interface ReporterOptions {
  /** Never printed: replaced by *** wherever they appear (S3 keys). */
  secrets?: readonly string[];
  /** A live progress line (stderr is a terminal, and no --no-progress). */
  live?: boolean;
  /** Colours on warnings, errors and the live line's summaries (see cli/terminal.ts for when). */
  color?: boolean;
  /** The user's home directory: paths under it are shown as ~/… on stderr (stdout, for scripts, keeps them whole). */
  home?: string | undefined;
  /** For tests: the clock behind durations and timestamps. */
  now?: () => number;
  /** For tests: each event as it is said (or not, at this verbosity), with its level. */
  onEvent?: (level: EventLevel, event: ReportEvent) => void;
}

export type EventLevel = 'warning' | 'info' | 'detail' | 'summary';

/** Control characters but tab and newline: in text from a store, an archive or a program, they could drive the terminal. */
const CONTROL = /[^\P{Cc}\t\n]/gu;

/** Text made harmless to print: each control character shown as its escape (`\x1b`), never sent as itself. */
const plain = (text: string): string => text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** Lines on stderr (a live progress line on a terminal); secrets are replaced before anything is written. */
export function createReporter(streams: ReporterStreams, verbosity: Verbosity, options: ReporterOptions = {}): Reporter {
  // Each secret as given and as JSON writes it (a `"` or `\` in it is escaped there), longest first so
  // that a secret inside another one cannot leave part of the longer one showing.
  const secrets = [...new Set((options.secrets ?? []).filter((s) => s.length > 0).flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]))].sort(
    (a, b) => b.length - a.length,
  );
  const now = options.now ?? Date.now;
  const live = Boolean(options.live) && verbosity >= 0;
  const paint = (code: string, text: string) => (options.color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const mask = (text: string) => secrets.reduce((out, secret) => out.split(secret).join('***'), text);
  const home = options.home && options.home !== '/' && options.home.startsWith('/') ? `${options.home.replace(/\/+$/, '')}/` : undefined;
  /** What goes to stderr: secrets masked first (a secret holding the home path must not be shortened out of reach), then paths under home shortened. */
  const shown = (text: string) => (home ? mask(text).split(home).join('~/') : mask(text));
  const warnings: WarningRecord[] = [];
  /** Every event reaches the listener, whether this verbosity shows it or not. */
  const heard = (level: EventLevel, message: string | ReportEvent) => typeof message !== 'string' && options.onEvent?.(level, message);
  /** A message's words, made printable. */
  const text = (message: string | ReportEvent) => plain(typeof message === 'string' ? message : describeEvent(message));
  const lines = new StderrLines({ stderr: streams.stderr, live, now, shown, paint });
  const line = (text: string) => lines.line(text);

  return {
    verbosity,
    result: (text) => lines.around(() => streams.stdout.write(`${mask(plain(text))}\n`)),
    document(value) {
      this.result(JSON.stringify({ ...value, warnings }, null, 2));
    },
    info: (message) => {
      heard('info', message);
      if (verbosity >= 0) line(`terrarium: ${text(message)}`);
    },
    warn: (event) => {
      heard('warning', event);
      const message = describeEvent(event);
      warnings.push({ ...event, message });
      if (verbosity >= 0) line(`terrarium: ${paint('33', 'warning:')} ${plain(message)}`);
    },
    detail: (message) => {
      heard('detail', message);
      if (verbosity >= 1) line(`terrarium: ${text(message)}`);
    },
    debug: (text) => verbosity >= 2 && line(`terrarium: ${plain(text)}`),
    failureOutput: (text) => text.trim() && line(plain(text.replace(/\n$/, ''))),
    error: (error) => {
      if (error instanceof TerrariumError) {
        line(`terrarium: ${paint('31', 'error:')} ${plain(error.message)}`);
        if (error.hint) line(`terrarium: hint: ${plain(error.hint)}`);
        if (verbosity >= 2 && error.cause instanceof Error && error.cause.stack) line(plain(error.cause.stack));
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      line(`terrarium: ${paint('31', 'internal error:')} ${plain(message)}`);
      if (verbosity >= 2 && error instanceof Error && error.stack) line(plain(error.stack));
      else line('terrarium: hint: run again with -VV for details, and report it if it persists');
    },
    async during(name, work, status) {
      const phase = this.phase(name, status);
      try {
        return await work(phase);
      } finally {
        phase.end();
      }
    },
    phase: (title, poll) => {
      if (verbosity < 0) return { done: (summary) => void heard('summary', summary), end: () => undefined };
      const finish = lines.open(plain(title), poll && (() => plain(poll())));
      return {
        done: (summary) => {
          heard('summary', summary);
          finish(text(summary));
        },
        end: () => finish(undefined),
      };
    },
  };
}
