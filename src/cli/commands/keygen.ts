import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describeCause, EXIT, isErrno, TerrariumError } from '../../errors.js';
import { generateKeyPair } from '../../sign/minisign.js';
import type { CommandHandler } from '../context.js';

/** `terrarium keygen FILE`: an Ed25519 key pair in minisign's formats, FILE (secret, 0600) and FILE.pub. */
export const keygenCommand: CommandHandler = async ({ files, context, reporter, settings }) => {
  const secretFile = path.resolve(context.cwd, files[0]!);
  const publicFile = `${secretFile}.pub`;
  const pair = generateKeyPair();
  const write = async (file: string, text: string, mode: number) => {
    try {
      await fs.writeFile(file, text, { flag: 'wx', mode });
    } catch (error) {
      if (isErrno(error, 'EEXIST'))
        throw new TerrariumError('USAGE', `${file} exists; keygen never overwrites a key`, { hint: 'choose another file name, or remove the old key first' });
      throw new TerrariumError('USAGE', `cannot write ${file}: ${describeCause(error)}`, { hint: 'choose a file in a directory you can write to' });
    }
  };
  // The public half first: if the secret cannot be written, nothing is left that could be mistaken for a usable pair.
  await write(publicFile, pair.publicFile, 0o644);
  await write(secretFile, pair.secretFile, 0o600).catch(async (error: unknown) => {
    await fs.rm(publicFile, { force: true });
    throw error;
  });
  const publicKey = pair.publicFile.split('\n')[1]!;
  if (settings.json) {
    reporter.document({ keyId: pair.id, publicKey, secretKeyFile: secretFile, publicKeyFile: publicFile });
    return EXIT.ok;
  }
  reporter.result(publicKey);
  reporter.info(`key ${pair.id}: secret key in ${secretFile} (unencrypted: keep it where only builders read it, as --sign-key or TERRARIUM_SIGN_KEY)`);
  reporter.info(`public key in ${publicFile}: give it (or the line above) to every runner as --trust-key or TERRARIUM_TRUSTED_KEYS`);
  return EXIT.ok;
};
