import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_TAG } from '../../src/io/owner.js';
import { Sandbox } from '../helpers/cli.js';
import { ACCESS_KEY, BUCKET, S3TestServer, SECRET_KEY } from '../helpers/s3.js';

/** Signed archives, checked against the real minisign program (Debian package minisign) on both sides. */
describe('signed archives', () => {
  const box = new Sandbox();
  const store = (...rest: string[]) => ['--storage-dir', box.store, '--no-cache', ...rest];
  const signer = box.path('keys', 'builder.key');
  let key: string;
  let archive: string;

  beforeAll(async () => {
    execFileSync('mkdir', ['-p', box.path('keys')]);
    const made = await box.terrarium(['keygen', signer]);
    expect(made.code, made.stderr).toBe(0);
    box.write('requirements.txt', 'terra-dep\n');
    // One archive file and its signature (layers.test.ts signs layered archives).
    const built = await box.terrarium(store('--format', '1', '--sign-key', signer, '-t', box.path('built'), 'install', 'requirements.txt'));
    expect(built.code, built.stderr).toBe(0);
    key = (await box.terrarium(['key', 'requirements.txt'])).stdout.trim();
    archive = path.join(box.store, readdirSync(box.store).find((name) => name.endsWith('.tar.zst'))!);
  });
  afterAll(() => box.cleanup());

  const trusting = (pub: string, target: string, ...extra: string[]) =>
    box.terrarium(store('--trust-key', pub, '-t', box.path(target), ...extra, 'install', 'requirements.txt'));

  it('keygen writes a 0600 secret key and its .pub, and refuses to overwrite them', async () => {
    expect(statSync(signer).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${signer}.pub`, 'utf8')).toMatch(/^untrusted comment: minisign public key [0-9A-F]{1,16}\nRW/);
    const again = await box.terrarium(['keygen', signer]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('never overwrites a key');
  });

  it('publishes the signature beside the archive, in a form minisign -V verifies, bound to key and sha256', () => {
    const record = JSON.parse(readFileSync(path.join(box.store, `${key}.json`), 'utf8')) as { sha256: string };
    const verified = spawnSync('minisign', ['-V', '-m', archive, '-p', `${signer}.pub`], { encoding: 'utf8' });
    expect(verified.status, verified.stderr).toBe(0);
    expect(verified.stdout).toContain(`Trusted comment: terrarium-archive key=${key} sha256=${record.sha256}`);
  });

  it('installs what a trusted key signed; ls and inspect show the signer', async () => {
    const result = await trusting(`${signer}.pub`, 'trusted', '--require-download');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/verified and signed by [0-9A-F]{1,16}/);
    const keyId = /public key ([0-9A-F]{1,16})/.exec(readFileSync(`${signer}.pub`, 'utf8'))![1]!;
    const ls = await box.terrarium(store('ls'));
    expect(ls.stdout).toContain(`signed by ${keyId}`);
    const inspect = await box.terrarium(store('--trust-key', `${signer}.pub`, '--json', 'inspect', key));
    expect(JSON.parse(inspect.stdout).signature).toMatchObject({ keyId, trust: 'trusted' });
  });

  it('an archive signed by another key is a miss with a warning (exit 6 under --require-download), never deleted', async () => {
    const other = box.path('keys', 'other.key');
    expect((await box.terrarium(['keygen', other])).code).toBe(0);
    const strict = await trusting(`${other}.pub`, 'other-strict', '--require-download');
    expect(strict.code).toBe(6);
    expect(strict.stderr).toContain(`${box.shown(box.store)}: archive ${key} was not installed: signed by key`);
    expect(strict.stderr).toContain('which is not trusted');
    expect(existsSync(box.path('other-strict'))).toBe(false);
    // exists answers what an install here would take: with only the other key trusted, nothing.
    expect((await box.terrarium(store('--trust-key', `${other}.pub`, 'exists', 'requirements.txt'))).code).toBe(1);
    expect((await box.terrarium(store('--trust-key', `${signer}.pub`, 'exists', 'requirements.txt'))).code).toBe(0);
    const lenient = await trusting(`${other}.pub`, 'other', '--no-upload');
    expect(lenient.code, lenient.stderr).toBe(0);
    expect(lenient.stderr).toContain('building instead');
    expect(existsSync(archive)).toBe(true);
    expect(existsSync(`${archive}.minisig`)).toBe(true);
  });

  it.each<[string, (sig: string) => string, RegExp]>([
    ['a trusted comment edited', (sig) => sig.replace(/sha256=[0-9a-f]+/, `sha256=${'0'.repeat(64)}`), /does not verify/],
    ['no signature at all', () => '', /not signed/],
    [
      'the signature of the bytes changed (the trusted comment still verifying)',
      (sig) => {
        const lines = sig.split('\n');
        const bytes = Buffer.from(lines[1]!, 'base64');
        bytes[20]! ^= 1;
        lines[1] = bytes.toString('base64');
        return lines.join('\n');
      },
      /does not verify/,
    ],
  ])('refuses an archive with %s', async (_, tamper, why) => {
    const signature = `${archive}.minisig`;
    const original = readFileSync(signature, 'utf8');
    try {
      const changed = tamper(original);
      if (changed) writeFileSync(signature, changed);
      else execFileSync('rm', [signature]);
      const result = await trusting(`${signer}.pub`, 'tampered', '--require-download');
      expect(result.code).toBe(6);
      expect(result.stderr).toMatch(why);
    } finally {
      writeFileSync(signature, original);
    }
  });

  it('refuses other bytes under a rewritten record, with the genuine signature copied beside them', async () => {
    const recordFile = path.join(box.store, `${key}.json`);
    const record = readFileSync(recordFile, 'utf8');
    try {
      // Whoever can write the store: new bytes under their own name, a record that matches them, the old signature kept.
      const forged = Buffer.concat([readFileSync(archive), Buffer.alloc(512)]);
      const sha256 = createHash('sha256').update(forged).digest('hex');
      const name = path.join(box.store, `${key}.${sha256.slice(0, 16)}.tar.zst`);
      writeFileSync(name, forged);
      copyFileSync(`${archive}.minisig`, `${name}.minisig`);
      writeFileSync(recordFile, JSON.stringify({ ...JSON.parse(record), sha256, size: forged.length }));
      const result = await trusting(`${signer}.pub`, 'forged', '--require-download');
      expect(result.code).toBe(6);
      expect(result.stderr).toContain('not for this key and sha256');
      expect(existsSync(box.path('forged'))).toBe(false);
    } finally {
      writeFileSync(recordFile, record);
    }
  });

  it('refuses a signed archive replayed under another key, and bytes that are not the signed ones', async () => {
    box.write('other.txt', 'terra-dep\n# another file, another key\nterra-demo\n');
    const otherKey = (await box.terrarium(['key', 'other.txt'])).stdout.trim();
    const record = JSON.parse(readFileSync(path.join(box.store, `${key}.json`), 'utf8')) as Record<string, unknown>;
    const name = path.basename(archive).replace(key, otherKey);
    copyFileSync(archive, path.join(box.store, name));
    copyFileSync(`${archive}.minisig`, path.join(box.store, `${name}.minisig`));
    writeFileSync(path.join(box.store, `${otherKey}.json`), JSON.stringify({ ...record, key: otherKey }));
    const replayed = await box.terrarium(store('--trust-key', `${signer}.pub`, '-t', box.path('replayed'), '--require-download', 'install', 'other.txt'));
    expect(replayed.code).toBe(6);
    expect(replayed.stderr).toContain('not for this key and sha256');
  });

  it('installs an archive signed by minisign -S with a key made by minisign -G -W', async () => {
    const secret = box.path('keys', 'minisign.key');
    execFileSync('minisign', ['-G', '-W', '-p', `${secret}.pub`, '-s', secret], { stdio: 'ignore' });
    const record = JSON.parse(readFileSync(path.join(box.store, `${key}.json`), 'utf8')) as { sha256: string };
    const signature = `${archive}.minisig`;
    const original = readFileSync(signature, 'utf8');
    try {
      execFileSync('minisign', ['-S', '-s', secret, '-m', archive, '-x', signature, '-t', `terrarium-archive key=${key} sha256=${record.sha256}`], {
        stdio: 'ignore',
      });
      const result = await trusting(`${secret}.pub`, 'by-minisign', '--require-download');
      expect(result.code, result.stderr).toBe(0);
      // Several trusted keys (TERRARIUM_TRUSTED_KEYS, comma-separated): any one of them is enough.
      const pubLine = readFileSync(`${secret}.pub`, 'utf8').split('\n')[1]!;
      const either = await box.terrarium(store('-t', box.path('by-either'), '--require-download', 'install', 'requirements.txt'), {
        TERRARIUM_TRUSTED_KEYS: `${readFileSync(`${signer}.pub`, 'utf8').split('\n')[1]},${pubLine}`,
      });
      expect(either.code, either.stderr).toBe(0);
    } finally {
      writeFileSync(signature, original);
    }
  });

  it('refuses a bad --sign-key or --trust-key before doing anything: exit 2', async () => {
    box.write('not-a-key', 'hello\n');
    for (const extra of [
      ['--sign-key', box.path('not-a-key')],
      ['--trust-key', 'RWQnot-a-key'],
    ]) {
      const result = await box.terrarium(store(...extra, '-t', box.path('bad-key'), 'install', 'requirements.txt'));
      expect(result.code, result.stderr).toBe(2);
      expect(existsSync(box.path('bad-key'))).toBe(false);
    }
    // The builder's secret key given to a runner: named as such, and the .pub beside it pointed at.
    const secret = await box.main(store('--trust-key', signer, 'exists', 'requirements.txt'));
    expect(secret.code).toBe(2);
    expect(secret.stderr).toContain(`bad --trust-key ${JSON.stringify(box.shown(signer))}: it is a secret key`);
    expect(secret.stderr).toContain(`hint: give runners the public key beside it (${box.shown(signer)}.pub`);
  });
});

/** The same promises through S3 (s3rver on loopback) and the cache of a second machine. */
describe('signed archives in S3', () => {
  const box = new Sandbox();
  const s3 = new S3TestServer();
  const signer = box.path('builder.key');
  const env = (machine: string) => ({
    S3_BUCKET: BUCKET,
    S3_ACCESS_KEY: ACCESS_KEY,
    S3_SECRET_KEY: SECRET_KEY,
    S3_ENDPOINT: s3.endpoint,
    S3_PATH_STYLE: '1',
    XDG_CACHE_HOME: box.path(`${machine}-cache`),
  });
  let trust: string;

  beforeAll(async () => {
    await s3.start();
    expect((await box.terrarium(['keygen', signer])).code).toBe(0);
    trust = readFileSync(`${signer}.pub`, 'utf8').split('\n')[1]!;
    box.write('requirements.txt', 'terra-dep\n');
  });
  afterAll(async () => {
    await s3.stop();
    box.cleanup();
  });

  it('a signing builder replaces an unsigned archive in its way; a trusting runner without the key publishes nothing; a second machine restores and caches the signed one', async () => {
    const unsigned = await box.terrarium(['-t', box.path('unsigned'), 'install', 'requirements.txt'], env('builder'));
    expect(unsigned.code, unsigned.stderr).toBe(0);
    // A live build lease on the key: a run that will not publish has no business waiting on it.
    const key = (await box.main(['key', 'requirements.txt'])).stdout.trim();
    await s3.put(`${key}.lease`, JSON.stringify({ host: HOST_TAG, hostname: 'test', pid: process.pid, nonce: 'held', since: new Date().toISOString() }));
    const before = await s3.keys();
    const runner = await box.terrarium(['-t', box.path('runner'), 'install', 'requirements.txt'], { ...env('runner'), TERRARIUM_TRUSTED_KEYS: trust });
    expect(runner.code, runner.stderr).toBe(0);
    expect(runner.stderr).toContain('is not signed');
    expect(runner.stderr).toContain('not publishing');
    expect(runner.stderr).not.toContain('is being built by');
    expect(await s3.keys()).toEqual(before);
    await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${key}.lease` }));
    const signed = await box.terrarium(['--sign-key', signer, '--no-download', '-t', box.path('signed'), 'install', 'requirements.txt'], {
      ...env('builder'),
      TERRARIUM_TRUSTED_KEYS: trust,
    });
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.stderr).toContain('it is not signed); replacing it');
    expect((await s3.keys()).filter((k) => k.endsWith('.minisig'))).toHaveLength(1);
    const second = await box.terrarium(['-t', box.path('second'), '--require-download', 'install', 'requirements.txt'], {
      ...env('second'),
      TERRARIUM_TRUSTED_KEYS: trust,
    });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/from s3:\/\/.* at /);
    // Its cache kept the signature with the archive: the next install there needs neither S3 nor trust in the cache.
    expect(readdirSync(path.join(box.path('second-cache'), 'terrarium', 'v1')).filter((n) => n.endsWith('.minisig'))).toHaveLength(1);
    const cached = await box.terrarium(['--link-mode', 'none', '-t', box.path('cached'), '--require-download', 'install', 'requirements.txt'], {
      ...env('second'),
      S3_ENDPOINT: 'http://127.0.0.1:9',
      TERRARIUM_TRUSTED_KEYS: trust,
    });
    expect(cached.code, cached.stderr).toBe(0);
    expect(cached.stderr).toMatch(/from cache .* at /);
  });
});
