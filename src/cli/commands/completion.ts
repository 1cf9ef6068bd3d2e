import { EXIT, TerrariumError } from '../../errors.js';
import { completionScript, SHELLS, type Shell } from '../completion.js';
import type { CommandHandler } from '../context.js';

/** `terrarium completion bash|zsh|fish`: prints the script; how to install it is in its first line. */
export const completionCommand: CommandHandler = async ({ files, cli, reporter }) => {
  const shell = files[0] as Shell;
  if (!SHELLS.includes(shell)) throw new TerrariumError('USAGE', `no completion for "${shell}"`, { hint: `choose one of ${SHELLS.join(', ')}` });
  reporter.result(completionScript(shell, cli()).trimEnd());
  return EXIT.ok;
};
