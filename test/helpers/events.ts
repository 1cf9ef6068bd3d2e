import type { ReportEvent } from '../../src/report/events.js';
import { createReporter, type EventLevel, type Reporter } from '../../src/report/reporter.js';

const silent = { write: () => true };

/** A reporter that prints nothing and keeps every event it is told, with its level: what tests assert. */
export function recordingReporter(): { reporter: Reporter; events: Array<{ level: EventLevel } & ReportEvent> } {
  const events: Array<{ level: EventLevel } & ReportEvent> = [];
  const reporter = createReporter({ stdout: silent, stderr: silent }, 2, { onEvent: (level, event) => events.push({ level, ...event }) });
  return { reporter, events };
}
