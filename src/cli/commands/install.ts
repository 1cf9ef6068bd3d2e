import { EXIT } from '../../errors.js';
import { configureStores } from '../../install/configure-stores.js';
import { type InstallOutcome, install } from '../../install/install.js';
import { formatCount, formatDuration } from '../../report/format.js';
import { loadSigningKey, loadTrustedKeys } from '../../sign/archive-signature.js';
import type { CommandHandler } from '../context.js';
import { requireTarget } from '../options.js';

/** Where the environment came from, in words (and as --json's `source`). */
function sourceOf(outcome: InstallOutcome): string {
  if (outcome.kind === 'built') return 'build';
  if (outcome.kind === 'unchanged') return 'target';
  return outcome.kind === 'linked' ? `unpacked copy in the cache ${outcome.cacheDir} (${outcome.method})` : outcome.store;
}

export const installCommand: CommandHandler = async ({ settings, files, context, reporter }) => {
  // Keys are read before any work starts: a bad one costs nothing.
  const signingKey = settings.signKey === undefined ? undefined : loadSigningKey(settings.signKey);
  const trusted = loadTrustedKeys(settings.trustKeys, context.cwd);
  const result = await install({
    ...settings,
    ...configureStores(settings.storage, reporter),
    target: requireTarget(settings),
    requirementFiles: files,
    signingKey,
    trusted,
    cwd: context.cwd,
    env: context.env,
    signal: context.signal,
    reporter,
  });
  const { outcome } = result;
  const publications = outcome.kind === 'built' ? outcome.published : [];
  const ours = publications.filter((p) => p.outcome !== 'present').map((p) => p.store.description);
  const theirs = publications.filter((p) => p.outcome === 'present').map((p) => p.store.description);
  if (settings.json) {
    reporter.document({
      ok: true,
      key: result.key,
      target: result.target,
      hit: outcome.kind !== 'built',
      source: sourceOf(outcome),
      unchanged: outcome.kind === 'unchanged',
      portable: result.portable,
      interpreter: result.interpreter,
      published: ours,
      publishedByAnotherRun: theirs,
      nearest: result.nearest ?? null,
      waited: result.waited ?? null,
      unreachable: result.unreachable,
      backup: result.backup ?? null,
      keptBackup: result.keptBackup,
      bytes: outcome.kind === 'built' || outcome.kind === 'restored' ? outcome.bytes : 0,
      assembled: outcome.kind === 'built' && outcome.assembled ? { reused: outcome.assembled.layers, installedByPip: outcome.assembled.pip } : null,
      seconds: Number(result.seconds.toFixed(3)),
    });
  }
  const took = formatDuration(result.seconds * 1000);
  if (outcome.kind === 'built') {
    const where = [ours.length ? `published to ${ours.join(', ')}` : '', theirs.length ? `another run published it to ${theirs.join(', ')}` : ''].filter(
      Boolean,
    );
    // A store passed over as unreachable got nothing: the last line says so, not only the warning above it.
    if (result.unreachable.length) where.push(`not published to ${result.unreachable.join(', ')} (unreachable)`);
    const assembled = outcome.assembled
      ? ` (assembled from ${formatCount(outcome.assembled.layers.length, 'stored layer')}, ${outcome.assembled.pip} installed by pip)`
      : '';
    reporter.info(`built ${result.key}${assembled}${where.length ? `, ${where.join('; ')}` : ''}; installed at ${result.target} in ${took}`);
  } else if (outcome.kind === 'unchanged') {
    reporter.info(`${result.key} is already installed at ${result.target}, unchanged: nothing to do (checked in ${took}; --reinstall installs it again)`);
  } else {
    reporter.info(`restored ${result.key} from ${sourceOf(outcome)} at ${result.target} in ${took}`);
  }
  return EXIT.ok;
};
