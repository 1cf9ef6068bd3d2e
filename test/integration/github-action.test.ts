import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.js';
import { type ActionRun, readAction, runComposite } from '../helpers/composite-action.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** The GitHub Action (action.yml), run as a runner runs a composite action, against real Python and a storage directory. */
describe('the GitHub Action', () => {
  const box = new Sandbox();
  const signer = box.path('sign.key');
  let signKeyText: string;
  const secret = 'wJalrXUtnFEMI-never-in-the-log';
  const job = (name: string, inputs: Record<string, string>) =>
    runComposite(ROOT, box.path('jobs', name), { requirements: 'requirements.txt', 'storage-dir': box.store, ...inputs }, box.env, box.dir);
  /** Every line of the log that holds `value` is the mask command announcing it, before any other line that could. */
  const expectMasked = (run: ActionRun, value: string) => {
    const lines = run.log.split('\n');
    const holding = lines.filter((line) => line.includes(value));
    expect(holding.length).toBeGreaterThan(0);
    expect(holding.every((line) => line === `::add-mask::${value}`)).toBe(true);
  };

  beforeAll(async () => {
    box.write('requirements.txt', 'terra-dep\n');
    expect((await box.terrarium(['keygen', signer])).code).toBe(0);
    signKeyText = readFileSync(signer, 'utf8');
  });
  afterAll(() => box.cleanup());

  it('declares every input it passes, and passes every input it declares', () => {
    const action = readAction(path.join(ROOT, 'action.yml'));
    expect(action.runs.using).toBe('composite');
    const install = action.runs.steps.find((step) => step.id === 'install')!;
    const passed = Object.entries(install.env ?? {}).map(([variable, value]) => {
      expect(value).toBe(`\${{ inputs.${variable.slice('INPUT_'.length).toLowerCase()} }}`);
      return variable.slice('INPUT_'.length).toLowerCase();
    });
    // `cache` is the action's own: whether actions/cache runs.
    expect([...passed, 'cache'].sort()).toEqual(Object.keys(action.inputs).sort());
    expect(Object.keys(action.outputs).sort()).toEqual(['hit', 'key', 'source']);
  });

  it('a miss builds, publishes signed, and says so: outputs, VIRTUAL_ENV and PATH, the step summary; no secret in the log', async () => {
    const run = await job('first', { 'sign-key': signKeyText, 's3-access-key': 'AKIAEXAMPLE', 's3-secret-key': secret, target: 'env' });
    expect(run.code, run.log).toBe(0);
    const key = run.steps.prepare!.key!;
    expect(key).toMatch(/^x86_64-3\.\d+-[0-9a-f]{32}$/);
    expect(run.outputs).toEqual({ key, hit: 'false', source: 'build' });
    // actions/cache keeps the cache under the key, and falls back to the same interpreter's newest, then any.
    const cache = run.used.find((step) => step.uses.startsWith('actions/cache@'))!;
    expect(cache.with.key).toBe(`terrarium-Linux-${key}`);
    expect(cache.with['restore-keys']!.split('\n')).toEqual([`terrarium-Linux-${key.slice(0, -32)}`, 'terrarium-Linux-']);
    expect(cache.with.path).toBe(box.path('.cache', 'terrarium', 'v1'));
    const target = box.path('env');
    expect(run.env).toBe(`VIRTUAL_ENV=${target}\n`);
    expect(run.path).toBe(`${target}/bin\n`);
    expect(run.summary).toMatch(new RegExp(`\\| \`${key}\` \\| built \\| \\d+\\.\\d s \\| [\\d.]+ (KiB|MiB) \\|`));
    expect(readdirSync(box.store).some((name) => name.endsWith('.minisig') || name === 'layers')).toBe(true);
    expect(JSON.stringify(readdirSync(box.store))).toContain(key);
    expect((await box.exec(path.join(target, 'bin', 'python'), ['-c', 'import terra_dep'])).code).toBe(0);
    expectMasked(run, secret);
    for (const line of signKeyText.trim().split('\n')) expectMasked(run, line);
    // The key given as text was in a private file for the install step only.
    expect(readdirSync(box.path('jobs', 'first', 'temp'))).toEqual([]);
  });

  it('another job with the trusted key restores what the first published: a hit, in the summary too', async () => {
    const run = await job('second', { 'trust-key': `${signer}.pub`, target: 'env2', 'require-download': 'true', cache: 'false' });
    expect(run.code, run.log).toBe(0);
    expect(run.outputs.hit).toBe('true');
    expect(run.outputs.source).toBe(box.store);
    expect(run.used).toEqual([]);
    expect(run.summary).toMatch(/\| hit \(.*store\) \| \d+\.\d s \| [\d.]+ (KiB|MiB) \|/);
    expect(run.log).toMatch(/verified and signed by [0-9A-F]+/);
  });

  it("a failure is an error annotation with the hint, terrarium's exit status, and a row saying so", async () => {
    const run = await job('failing', { requirements: 'missing.txt', target: 'env3' });
    expect(run.code).toBe(3);
    expect(run.log).toMatch(/^::error title=terrarium key::.*missing\.txt/m);
    expect(existsSync(box.path('env3'))).toBe(false);
    const install = await job('failing-install', { target: 'env3', 'require-download': 'true', python: 'python3', args: '--digest-type sha1' });
    expect(install.code).toBe(10);
    expect(install.log).toMatch(/^::error title=terrarium install::no archive for .*: run once without --require-download/m);
    expect(install.summary).toContain('| failed (exit 10) |');
  });

  it('an input that cannot be used is named', async () => {
    const run = await job('bad-input', { portable: 'perhaps' });
    expect(run.code).toBe(2);
    expect(run.log).toContain('::error title=terrarium::the portable input is "perhaps": give true or false');
  });
});
