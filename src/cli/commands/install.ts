import { EXIT } from '../../errors.js';
import { install } from '../../install/install.js';
import { configureStores } from '../../stores/configure.js';
import type { CommandHandler } from '../context.js';
import { requireTarget } from '../options.js';

export const installCommand: CommandHandler = async ({ settings, files, context, reporter }) => {
  const result = await install({
    ...settings,
    ...configureStores(settings.storage, reporter),
    target: requireTarget(settings),
    requirementFiles: files,
    cwd: context.cwd,
    env: context.env,
    signal: context.signal,
    reporter,
  });
  if (settings.json) {
    reporter.document({
      ok: true,
      key: result.key,
      target: result.target,
      hit: result.source !== 'build',
      source: result.source,
      published: result.published,
      backup: settings.backupSuffix === undefined ? null : result.target + settings.backupSuffix,
      seconds: Number(result.seconds.toFixed(3)),
    });
  }
  const seconds = result.seconds.toFixed(1);
  if (result.source === 'build') {
    const where = result.published.length ? `, published to ${result.published.join(', ')}` : '';
    reporter.info(`built ${result.key}${where}; installed at ${result.target} in ${seconds} s`);
  } else {
    reporter.info(`restored ${result.key} from ${result.source} at ${result.target} in ${seconds} s`);
  }
  return EXIT.ok;
};
