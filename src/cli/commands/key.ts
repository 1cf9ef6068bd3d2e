import { EXIT } from '../../errors.js';
import { resolveDigest, resolveKey } from '../../key/resolve.js';
import type { CommandHandler } from '../context.js';

export const keyCommand: CommandHandler = async ({ settings, files, context, reporter }) => {
  const { key, digest, python, portable, requirements } = await resolveKey({ ...settings, requirementFiles: files, cwd: context.cwd, env: context.env });
  if (!settings.json) reporter.result(key);
  else {
    reporter.document({
      key,
      digest,
      digestType: settings.digestType,
      python: python
        ? { executable: python.executable, implementation: python.implementation, version: python.version.join('.'), machine: python.machine }
        : { executable: null, version: settings.python },
      portable,
      files: requirements.files.map((file) => file.path),
    });
  }
  return EXIT.ok;
};

export const hashCommand: CommandHandler = async ({ settings, files, context, reporter }) => {
  const { digest, requirements, inputs } = await resolveDigest({ ...settings, requirementFiles: files, cwd: context.cwd, env: context.env });
  if (!settings.json) reporter.result(digest);
  else
    reporter.document({
      digest,
      digestType: settings.digestType,
      files: requirements.files.map((file) => file.path),
      lines: inputs.lines.length,
      ...(inputs.locked ? { locked: inputs.locked.packages.length } : {}),
    });
  return EXIT.ok;
};
