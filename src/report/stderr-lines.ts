import { formatDuration } from './format.js';

const LIVE_MS = 100;
const PLAIN_MS = 10_000;
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const CLEAR_LINE = '\r\x1b[2K';

interface LiveLine {
  name: string;
  status: (() => string) | undefined;
  started: number;
  frame: number;
  shown: boolean;
}

export interface StderrOptions {
  stderr: { write(text: string): unknown; columns?: number };
  /** A live line redrawn in place (a terminal), else a heartbeat line every 10 s (a log). */
  live: boolean;
  now: () => number;
  /** Text as it may be shown: secrets masked, home shortened. */
  shown: (text: string) => string;
  paint: (code: string, text: string) => string;
}

/**
 * Lines on stderr around a phase's live line: a line is written above it (cleared, written, drawn
 * again), so the live line stays the last one and never wraps. Phases may overlap (pip runs while
 * layers are read): the one opened last is shown, and the one before it again once it ends.
 */
export class StderrLines {
  private readonly phases: LiveLine[] = [];

  private get current(): LiveLine | undefined {
    return this.phases.at(-1);
  }

  constructor(private readonly out: StderrOptions) {}

  /** Runs `write` (a line here, or stdout's answer) with the live line out of the way. */
  around(write: () => void): void {
    this.clear();
    write();
    this.draw();
  }

  line(text: string): void {
    this.around(() => this.out.stderr.write(`${this.out.shown(text)}\n`));
  }

  /**
   * Shows a phase until the returned function ends it: on a terminal, a live line with its status and
   * time so far; in a log, a heartbeat line with a figure that moves, then the summary, timestamped.
   */
  open(name: string, status: (() => string) | undefined): (summary: string | undefined) => void {
    const { live, now, paint } = this.out;
    const started = now();
    const clock = () => new Date(now()).toTimeString().slice(0, 8);
    const timer = setInterval(
      () => {
        if (live) this.draw();
        else this.line(`terrarium: ${clock()} ${name}: ${status?.() || 'still working'} (${formatDuration(now() - started)})`);
      },
      live ? LIVE_MS : PLAIN_MS,
    );
    timer.unref();
    this.clear();
    const phase: LiveLine = { name, status, started, frame: 0, shown: false };
    this.phases.push(phase);
    this.draw();
    let ended = false;
    return (summary) => {
      if (ended) return;
      ended = true;
      clearInterval(timer);
      this.clear();
      this.phases.splice(this.phases.indexOf(phase), 1);
      const took = formatDuration(now() - started);
      if (summary !== undefined) {
        const text = live ? `${paint('32', '✓')} ${name}: ${summary} ${paint('2', `(${took})`)}` : `terrarium: ${clock()} ${name}: ${summary} (${took})`;
        this.out.stderr.write(`${this.out.shown(text)}\n`);
      }
      // A phase it hid, still running, is shown again.
      this.draw();
    };
  }

  private clear(): void {
    if (this.current?.shown) this.out.stderr.write(CLEAR_LINE);
    if (this.current) this.current.shown = false;
  }

  private draw(): void {
    const phase = this.current;
    if (!this.out.live || !phase) return;
    const status = phase.status?.() ?? '';
    const head = this.out.shown(`${SPINNER[phase.frame++ % SPINNER.length]} ${phase.name}${status ? `: ${status}` : ''}`);
    const took = ` (${formatDuration(this.out.now() - phase.started)})`;
    // Never wider than the terminal (a wrapped line could not be redrawn in place): the message is
    // trimmed, never the time, which is what a narrow terminal's user watches.
    const room = Math.max(20, (this.out.stderr.columns || 80) - 1) - took.length;
    this.out.stderr.write(`${CLEAR_LINE}${head.length > room ? `${head.slice(0, room - 1)}…` : head}${took}`);
    phase.shown = true;
  }
}
