import { EXIT } from '../../errors.js';
import type { CommandHandler } from '../context.js';
import type { EffectiveSetting } from '../settings-sources.js';

/** The AWS SDK's own variables that supply credentials when no S3 keys are given: named, never shown. */
const CREDENTIAL_CHAIN = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_WEB_IDENTITY_TOKEN_FILE'];

/**
 * `terrarium config`: every setting, its value and its source, then what they resolve to where that
 * says more (the cache directory, where S3 credentials come from). A bad setting does not stop it: the
 * table shows it and the problem is said last (exit 2). Secrets come out masked.
 */
export const configCommand: CommandHandler = async ({ settings, settingsError, effective, configFile, context, reporter }) => {
  const rows: EffectiveSetting[] = effective();
  const cacheRow = rows.find((row) => row.option === 'cache-dir');
  if (cacheRow && cacheRow.value === undefined && !settingsError)
    Object.assign(cacheRow, {
      value: settings.storage.cacheDir ?? null,
      source: settings.storage.cacheDir ? 'default ($XDG_CACHE_HOME/terrarium/v1)' : 'none',
    });
  const keysGiven = rows.some((row) => row.option === 's3-access-key' && row.value !== undefined);
  const chain = CREDENTIAL_CHAIN.filter((name) => context.env[name]);
  rows.push({
    option: 's3-credentials',
    value: keysGiven ? 'S3 access key' : 'AWS credential chain',
    source: keysGiven ? 's3-access-key, s3-secret-key' : chain.length ? `environment ${chain.join(', ')}` : 'profiles, instance or container roles',
  });
  if (settings.json) {
    reporter.document({
      configFile: configFile ?? null,
      settings: Object.fromEntries(rows.map((row) => [row.option, { value: row.value ?? null, source: row.source }])),
      error: settingsError ? { code: settingsError.code, message: settingsError.message, hint: settingsError.hint ?? null } : null,
    });
  } else {
    reporter.info(configFile ? `defaults from ${configFile}` : 'no terrarium.toml or [tool.terrarium] in pyproject.toml here or above');
    const width = Math.max(...rows.map((row) => row.option.length));
    for (const row of rows) {
      const value = row.value === undefined || row.value === null ? '-' : JSON.stringify(row.value);
      reporter.result(`${row.option.padEnd(width)}  ${value.padEnd(24)}  ${row.source}`);
    }
    if (settingsError) reporter.error(settingsError);
  }
  return settingsError ? EXIT.usage : EXIT.ok;
};
