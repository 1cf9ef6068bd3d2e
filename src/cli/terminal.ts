import type { RawOptions } from './option-table.js';

/** How output is drawn: a live progress line, and colours. */
export interface OutputStyle {
  live: boolean;
  color: boolean;
}

/**
 * The style for a run, as other command-line tools decide it: a live line only on a terminal that can
 * redraw one (not TERM=dumb) unless --no-progress; colours with --color always, never with --color
 * never, and otherwise where FORCE_COLOR asks for them, or on such a terminal unless NO_COLOR
 * (https://no-color.org: set and not empty means no colour).
 */
export function outputStyle(raw: Pick<RawOptions, 'progress' | 'color'>, stderr: { isTTY?: boolean }, env: NodeJS.ProcessEnv): OutputStyle {
  const terminal = stderr.isTTY === true && env.TERM !== 'dumb';
  const forced = env.FORCE_COLOR !== undefined && !['', '0', 'false'].includes(env.FORCE_COLOR);
  const color = raw.color === 'always' || (raw.color !== 'never' && (forced || (terminal && !env.NO_COLOR)));
  return { live: raw.progress && terminal, color };
}
