import { diagnose } from '../../env/doctor.js';
import { EXIT } from '../../errors.js';
import type { CommandHandler } from '../context.js';
import { requireTarget } from '../options.js';

/** `terrarium doctor`: one line per problem on stdout; exit 0 when there is none. */
export const doctorCommand: CommandHandler = async ({ settings, context, reporter }) => {
  const target = requireTarget(settings);
  const { findings, shared, files } = await diagnose(target, context.env);
  if (settings.json) reporter.document({ target, clean: findings.length === 0, problems: findings, sharedFiles: shared });
  else for (const finding of findings) reporter.result(`${finding.path}: ${finding.problem}`);
  if (shared) {
    reporter.info(
      `${shared} of ${files} files in ${target} are hard links shared with the cache's unpacked copy and every environment linked from it: an edit in place changes them all (install with --link-mode copy, or --trust-key, for files of its own)`,
    );
  }
  if (!findings.length) {
    reporter.info(`${target} is clean: nothing in it depends on another location`);
    return EXIT.ok;
  }
  reporter.info(`${target}: ${findings.length} problem${findings.length === 1 ? '' : 's'}`);
  return EXIT.relocate;
};
