import { diagnose } from '../../env/doctor.js';
import { EXIT } from '../../errors.js';
import type { CommandHandler } from '../context.js';
import { requireTarget } from '../options.js';

/** `terrarium doctor`: one line per problem on stdout; exit 0 when there is none. */
export const doctorCommand: CommandHandler = async ({ settings, context, reporter }) => {
  const target = requireTarget(settings);
  const findings = await diagnose(target, context.env);
  if (settings.json) reporter.document({ target, clean: findings.length === 0, problems: findings });
  else for (const finding of findings) reporter.result(`${finding.path}: ${finding.problem}`);
  if (!findings.length) {
    reporter.info(`${target} is clean: nothing in it depends on another location`);
    return EXIT.ok;
  }
  reporter.info(`${target}: ${findings.length} problem${findings.length === 1 ? '' : 's'}`);
  return EXIT.relocate;
};
