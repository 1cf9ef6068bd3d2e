import { EXIT, TerrariumError } from '../../errors.js';
import { verifyCache } from '../../cache/verify.js';
import { LocalCache } from '../../cache/local-cache.js';
import type { CommandHandler } from '../context.js';

/** `terrarium cache verify`: checks everything in the local cache, drops what differs from what was written. */
export const cacheVerifyCommand: CommandHandler = async ({ settings, context, reporter }) => {
  const dir = settings.storage.cacheDir;
  if (!dir) throw new TerrariumError('USAGE', 'no cache to verify (--no-cache, or no home directory for one)', { hint: 'pass --cache-dir DIR' });
  const checks = await verifyCache(new LocalCache(dir, undefined), context.signal);
  const dropped = checks.filter((check) => check.problem);
  if (settings.json) {
    reporter.document({ cacheDir: dir, checked: checks.map((c) => ({ key: c.key, kind: c.kind, ok: !c.problem, problem: c.problem ?? null })) });
  } else {
    for (const check of checks)
      reporter.result(`${check.problem ? 'dropped' : 'ok     '}  ${check.kind.padEnd(13)}  ${check.key}${check.problem ? `: ${check.problem}` : ''}`);
    reporter.info(`${dir}: ${checks.length} checked, ${dropped.length} dropped`);
  }
  // Something was wrong (and is gone now): a CI step can tell.
  return dropped.length ? EXIT.archive : EXIT.ok;
};
