import { describe, expect, it } from 'vitest';
import { cacheKeys, inputsOf, planAction, summaryTable } from '../../src/action/inputs.js';

const plan = (inputs: Record<string, string>) =>
  planAction(inputsOf(Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v]))));

describe("the action's inputs", () => {
  it.each<[string, Record<string, string>, Partial<ReturnType<typeof planAction>>]>([
    ['files on lines or with spaces', { requirements: 'a.txt\n  b.txt c.txt\n' }, { files: ['a.txt', 'b.txt', 'c.txt'], target: '.venv', options: [] }],
    ['a quoted file keeps its space', { requirements: '"my reqs.txt"' }, { files: ['my reqs.txt'] }],
    [
      'options and switches',
      { requirements: 'r.txt', 's3-bucket': 'envs', 'link-mode': 'none', portable: 'true', 'require-download': 'false', args: '--build-wait 0' },
      { options: ['--s3-bucket', 'envs', '--link-mode', 'none', '--portable', '--build-wait', '0'] },
    ],
    [
      'credentials through the environment, masked (a user name is not)',
      { requirements: 'r.txt', 's3-access-key': 'AK', 's3-secret-key': 'SK', 'oci-username': 'me', 'oci-password': 'tok' },
      {
        options: [],
        env: { S3_ACCESS_KEY: 'AK', S3_SECRET_KEY: 'SK', TERRARIUM_OCI_USERNAME: 'me', TERRARIUM_OCI_PASSWORD: 'tok' },
        secrets: ['AK', 'SK', 'tok'],
      },
    ],
    ['a signing key file', { requirements: 'r.txt', 'sign-key': 'keys/sign.key' }, { options: ['--sign-key', 'keys/sign.key'], signKeyText: undefined }],
    [
      "a signing key's text, each line masked",
      { requirements: 'r.txt', 'sign-key': 'untrusted comment: minisign secret key 1\nRWQ' },
      { options: [], signKeyText: 'untrusted comment: minisign secret key 1\nRWQ\n', secrets: ['untrusted comment: minisign secret key 1', 'RWQ'] },
    ],
    ['trusted keys, one per line', { requirements: 'r.txt', 'trust-key': 'a.pub\nRWabc\n' }, { options: ['--trust-key', 'a.pub', '--trust-key', 'RWabc'] }],
  ])('%s', (_, inputs, wanted) => {
    expect(plan(inputs)).toMatchObject(wanted);
  });

  it.each([
    [{}, 'the requirements input is empty'],
    [{ requirements: 'r.txt', portable: 'maybe' }, 'the portable input is "maybe": give true or false'],
  ])('refuses %j', (inputs, message) => {
    expect(() => plan(inputs)).toThrow(message);
  });

  it('reads an input as the runner names it, or with underscores', () => {
    expect(inputsOf({ 'INPUT_S3-BUCKET': 'a' })('s3-bucket')).toBe('a');
    expect(inputsOf({ INPUT_S3_BUCKET: 'b' })('s3-bucket')).toBe('b');
    expect(inputsOf({ INPUT_S3_BUCKET: '  ' })('s3-bucket')).toBeUndefined();
  });

  it('keys the cache by key, falling back to the same interpreter, then any', () => {
    expect(cacheKeys('Linux', 'x86_64-3.12-abc', 'abc')).toEqual({
      key: 'terrarium-Linux-x86_64-3.12-abc',
      restore: ['terrarium-Linux-x86_64-3.12-', 'terrarium-Linux-'],
    });
    // A key format that does not end with the digest has no interpreter prefix to fall back to.
    expect(cacheKeys('Linux', 'abc-py312', 'abc')).toEqual({ key: 'terrarium-Linux-abc-py312', restore: ['terrarium-Linux-'] });
  });

  it('summarises as a table', () => {
    expect(summaryTable([{ key: 'k', result: 'built', seconds: 41.26, bytes: 5383511 }])).toBe(
      '### terrarium\n\n| key | result | time | bytes |\n|---|---|---|---|\n| `k` | built | 41.3 s | 5.1 MiB |\n',
    );
  });
});
