import { describe, expect, it } from 'vitest';
import { secretsOf } from '../../src/cli/options.js';
import { TerrariumError } from '../../src/errors.js';
import { plainReporter, type Verbosity } from '../../src/report/reporter.js';

function capture(verbosity: Verbosity, secrets: string[]) {
  const out = { stdout: '', stderr: '' };
  const reporter = plainReporter({ stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } }, verbosity, secrets);
  return { out, reporter };
}

describe('secrets in output', () => {
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  const keyId = 'AKIAIOSFODNN7EXAMPLE';

  it('are masked on every channel and at every verbosity, in messages, hints and stacks', () => {
    const { out, reporter } = capture(2, secretsOf({ s3AccessKey: keyId, s3SecretKey: secret }, {}));
    reporter.result(`key ${keyId}`);
    reporter.info(`using ${secret}`);
    reporter.warn(`retrying with ${keyId}`);
    reporter.detail(`signing with ${secret}`);
    reporter.debug(`header Authorization: AWS4-HMAC-SHA256 Credential=${keyId}/20261124`);
    reporter.failureOutput(`pip said ${secret}\n`);
    reporter.error(new TerrariumError('STORAGE_AUTH', `denied for ${keyId}`, { hint: `check ${secret}`, cause: new Error(`stack with ${secret}`) }));
    reporter.error(new Error(`internal ${secret}`));
    const all = out.stdout + out.stderr;
    expect(all).not.toContain(secret);
    expect(all).not.toContain(keyId);
    expect(all.match(/\*\*\*/g)?.length).toBeGreaterThanOrEqual(9);
  });

  it('include the credentials of the AWS chain found in the environment', () => {
    expect(secretsOf({}, { AWS_SECRET_ACCESS_KEY: secret, AWS_ACCESS_KEY_ID: keyId, AWS_SESSION_TOKEN: 'token-value' }).sort()).toEqual([secret, keyId, 'token-value'].sort());
  });
});
