import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.js';
import { interpreters, python3 } from '../helpers/python.js';

type Entries = Record<string, { fingerprint: Record<string, unknown> }>;

/** A cache restored from another job: whoever wrote its interpreter facts must not choose what runs, nor cost a store its archive. */
describe('the cache remembers interpreter facts; it never decides what runs', () => {
  const box = new Sandbox();
  const cache = box.path('cache');
  const facts = path.join(cache, 'interpreters.json');
  const signer = box.path('keys', 'builder.key');
  const ran = box.path('evil-ran');
  const evil = box.path('evil-python');
  const store = (...rest: string[]) => ['--storage-dir', box.store, '--cache-dir', cache, ...rest];
  const poison = (change: (entry: { fingerprint: Record<string, unknown> }, binary: string) => void) => {
    const entries = JSON.parse(readFileSync(facts, 'utf8')) as Entries;
    for (const [binary, entry] of Object.entries(entries)) change(entry, binary);
    writeFileSync(facts, JSON.stringify(entries));
  };

  beforeAll(async () => {
    box.write('requirements.txt', 'terra-dep\n');
    mkdirSync(path.dirname(signer));
    expect((await box.terrarium(['keygen', signer])).code).toBe(0);
    const built = await box.terrarium(store('--sign-key', signer, '-t', box.path('built'), 'install', 'requirements.txt'));
    expect(built.code, built.stderr).toBe(0);
    // A program that would run in the interpreter's place, and tell on itself (and on the secrets it was given).
    writeFileSync(evil, `#!/bin/sh\necho "$0 $S3_SECRET_KEY" >> ${ran}\nexec ${python3()} "$@"\n`);
    chmodSync(evil, 0o755);
  });
  afterAll(() => box.cleanup());

  it('an entry naming another executable is not taken: a signed restore links bin/python to the real interpreter', async () => {
    poison((entry) => {
      entry.fingerprint.executable = evil;
    });
    const result = await box.terrarium(store('--trust-key', `${signer}.pub`, '--link-mode', 'none', '-t', box.path('env-a'), 'install', 'requirements.txt'));
    expect(result.code, result.stderr).toBe(0);
    expect(realpathSync(box.path('env-a', 'bin', 'python'))).toBe(realpathSync(python3()));
    expect(existsSync(ran)).toBe(false);
  });

  it('nor does a build run it, with the secrets or without', async () => {
    poison((entry) => {
      entry.fingerprint.executable = evil;
    });
    box.write('other.txt', 'terra-demo\n');
    const result = await box.terrarium(store('--no-download', '-t', box.path('env-b'), 'install', 'other.txt'), {
      S3_ACCESS_KEY: 'id',
      S3_SECRET_KEY: 'sekrit-value',
    });
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(ran)).toBe(false);
    expect(realpathSync(box.path('env-b', 'bin', 'python'))).toBe(realpathSync(python3()));
  });

  const other = interpreters().find(
    ({ version, name }) => name.startsWith('pyenv') && version !== interpreters().find((i) => i.python === python3())?.version && version.startsWith('3.1'),
  );

  it.runIf(other)('facts that lie (another Python) never cost the store its good archive: the run asks the interpreter and uses its key', async () => {
    const otherPython = other!.python;
    // Let terrarium remember the other interpreter truly, then give it the default one's facts (and so its key).
    expect((await box.terrarium(store('--python', otherPython, 'key', 'requirements.txt'))).code).toBe(0);
    const entries = JSON.parse(readFileSync(facts, 'utf8')) as Entries;
    const mine = Object.entries(entries).find(([binary]) => binary === realpathSync(python3()))![1].fingerprint;
    poison((entry, binary) => {
      if (binary !== realpathSync(python3()))
        entry.fingerprint = { ...mine, executable: entry.fingerprint.executable, prefix: entry.fingerprint.prefix, stdlib: entry.fingerprint.stdlib };
    });
    const records = () => readdirSync(box.store).filter((name) => name.endsWith('.json'));
    const before = records();
    const liedKey = (await box.terrarium(store('--python', otherPython, 'key', 'requirements.txt'))).stdout.trim();
    expect(before).toContain(`${liedKey}.json`);
    const result = await box.terrarium(store('--python', otherPython, '--require-download', '-t', box.path('env-c'), 'install', 'requirements.txt'));
    expect(result.code, result.stderr).toBe(10);
    expect(result.stderr).toMatch(/the cache's facts about .* were not true/);
    expect(result.stderr).not.toContain('removed from the store');
    expect(records()).toEqual(before);
    // The entry now holds the truth: the key is the other interpreter's own.
    const truth = (await box.terrarium(store('--python', otherPython, 'key', 'requirements.txt'))).stdout.trim();
    expect(truth).not.toBe(liedKey);
    rmSync(box.path('env-c'), { recursive: true, force: true });
  });
});
