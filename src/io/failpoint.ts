/**
 * Crash-injection seam for the crash-safety tests: TERRARIUM_FAILPOINT=NAME[@N] makes the process kill
 * itself with SIGKILL (no cleanup, as a power cut or the OOM killer would) the Nth time it passes the
 * point NAME. Unset, each call costs one comparison.
 */
const spec = /^([a-z0-9:-]+)(?:@([1-9][0-9]*))?$/.exec(process.env.TERRARIUM_FAILPOINT ?? '');
const armedName = spec?.[1];
let remaining = Number(spec?.[2] ?? 1);

export function failpoint(name: string): void {
  if (name !== armedName) return;
  remaining -= 1;
  if (remaining === 0) process.kill(process.pid, 'SIGKILL');
}
