import { constants } from 'node:os';
import { TerrariumError } from '../errors.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Turns the first SIGINT/SIGTERM/SIGHUP into an abort: the run stops at its next safe point (never
 * between the renames of a swap), removes what it made and exits 128+N. A second signal stops the
 * process at once; the next run then cleans up after it.
 */
export function abortOnSignals(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (name: (typeof SIGNALS)[number]) => {
    if (controller.signal.aborted) {
      for (const signal of SIGNALS) process.removeAllListeners(signal);
      process.kill(process.pid, name);
      return;
    }
    controller.abort(
      Object.assign(
        new TerrariumError('INTERRUPTED', `interrupted by ${name} before the target was changed; it was left as it was`, {
          hint: 'run the command again to finish the job',
          exitCode: 128 + constants.signals[name],
        }),
        { signalName: name },
      ),
    );
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return controller.signal;
}

/** What the run says the moment it is interrupted (through the reporter, which first clears a live line). */
export function interruptNotice(reason: unknown): string {
  const name = (reason as { signalName?: string } | undefined)?.signalName ?? 'an interrupt';
  return `${name} received: stopping and cleaning up (send it again to stop at once)`;
}
