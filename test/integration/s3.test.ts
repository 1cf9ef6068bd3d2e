import { createHash } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CliResult, closedPort, Sandbox, withoutProgress } from '../helpers/cli.js';
import { envState } from '../helpers/env-state.js';
import { ACCESS_KEY, BUCKET, FaultProxy, S3TestServer, SECRET_KEY } from '../helpers/s3.js';

/** S3 storage against a real S3 server (s3rver) on loopback, through a proxy that injects network faults. */
describe('S3 store', () => {
  const box = new Sandbox();
  const s3 = new S3TestServer();
  const proxy = new FaultProxy(() => s3.port);
  const prefix = 'team/envs/';
  const outputs: CliResult[] = [];
  let key: string;

  /** Credentials through the environment, as CI secrets usually arrive. */
  const env = () => ({
    S3_BUCKET: BUCKET,
    S3_ACCESS_KEY: ACCESS_KEY,
    S3_SECRET_KEY: SECRET_KEY,
    S3_ENDPOINT: proxy.endpoint,
    S3_PREFIX: prefix,
    S3_PATH_STYLE: '1',
  });
  // Builds publish one archive file, whose objects these tests count, damage and cut (layers.test.ts has S3 in layers).
  const terrarium = async (args: string[], extra: NodeJS.ProcessEnv = {}) => {
    const result = await box.terrarium(args.includes('install') ? ['--format', '1', ...args] : args, { ...env(), ...extra });
    outputs.push(result);
    return result;
  };

  beforeAll(async () => {
    await s3.start();
    await proxy.start();
    box.write('requirements.txt', 'terra-demo\n');
    key = (await box.terrarium(['key', 'requirements.txt'])).stdout.trim();
  });
  afterAll(async () => {
    // Whatever happened, no run printed the secret key, at any verbosity.
    for (const { stdout, stderr } of outputs) expect(stdout + stderr).not.toContain(SECRET_KEY);
    await proxy.stop();
    await s3.stop();
    box.cleanup();
  });
  beforeEach(() => proxy.inject('none', 0));

  it('a miss builds and publishes under the prefix; another machine restores it; then its cache serves it', async () => {
    const built = await terrarium(['-VV', '-t', box.path('built'), 'install', 'requirements.txt']);
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).toContain(`published to s3://${BUCKET}/${prefix}`);
    expect(built.stderr).toMatch(new RegExp(`publish to s3://${BUCKET}/${prefix}: [\\d.]+ (KiB|MiB) \\(`));
    const objects = await s3.keys();
    expect(objects).toEqual([`${prefix}${key}.json`, expect.stringMatching(new RegExp(`^${prefix}${key}\\.[0-9a-f]{16}\\.tar\\.zst$`))].sort());
    // The archive object is what its record says.
    const record = JSON.parse((await s3.get(`${prefix}${key}.json`)).toString()) as { sha256: string; size: number };
    const blob = await s3.get(objects.find((o) => o.endsWith('.tar.zst'))!);
    expect(createHash('sha256').update(blob).digest('hex')).toBe(record.sha256);
    expect(blob.length).toBe(record.size);

    // Another machine: its own cache, the wheels gone (a hit needs no pip).
    const machine = { XDG_CACHE_HOME: box.path('machine-2-cache') };
    const restored = await terrarium(['-t', box.path('restored'), 'install', 'requirements.txt'], machine);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stderr).toContain(`from s3://${BUCKET}/${prefix}`);
    expect(envState(box.path('restored'))).toBe('terra_demo');
    expect(readdirSync(path.join(box.path('machine-2-cache'), 'terrarium', 'v1')).filter((n) => n.endsWith('.tar.zst'))).toHaveLength(1);

    // The second install on that machine downloads nothing: it works with S3 unreachable.
    const offline = await terrarium(['-t', box.path('offline'), '--s3-max-retries', '0', 'install', 'requirements.txt'], {
      ...machine,
      S3_ENDPOINT: 'http://127.0.0.1:9',
    });
    expect(offline.code, offline.stderr).toBe(0);
    expect(offline.stderr).toContain('from unpacked copy in the cache ');
    // Without the unpacked copy, the downloaded archive serves.
    rmSync(path.join(box.path('machine-2-cache'), 'terrarium', 'v1', 'unpacked'), { recursive: true });
    const archived = await terrarium(['-t', box.path('offline 2'), '--s3-max-retries', '0', 'install', 'requirements.txt'], {
      ...machine,
      S3_ENDPOINT: 'http://127.0.0.1:9',
    });
    expect(archived.code, archived.stderr).toBe(0);
    expect(archived.stderr).toContain('from cache ');
  });

  it("without explicit keys, uses the SDK's credential chain (here: AWS_* variables)", async () => {
    const chain = await terrarium(['-t', box.path('chain'), '--no-cache', '--require-download', 'install', 'requirements.txt'], {
      S3_ACCESS_KEY: '',
      S3_SECRET_KEY: '',
      AWS_ACCESS_KEY_ID: ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: SECRET_KEY,
    });
    expect(chain.code, chain.stderr).toBe(0);
  });

  it('retries refused connections, then succeeds; beyond the retries it fails under --require-download naming the bucket and the cause, and builds otherwise', async () => {
    proxy.inject('refuse', 2);
    const retried = await terrarium(['-t', box.path('retried'), '--no-cache', '--require-download', 'install', 'requirements.txt']);
    expect(retried.code, retried.stderr).toBe(0);
    expect(proxy.faulted).toBe(2);

    proxy.inject('refuse', 100);
    const failed = await terrarium(['-t', box.path('unreachable'), '--no-cache', '--s3-max-retries', '1', '--require-download', 'install', 'requirements.txt']);
    expect(failed.code).toBe(5);
    expect(failed.stderr).toMatch(
      new RegExp(`error: cannot read s3://${BUCKET}/${prefix}${key}\\.json at ${proxy.endpoint} after 2 attempts: .*(ECONNRESET|socket hang up)`),
    );
    expect(withoutProgress(failed.stderr)).toHaveLength(2);
    expect(existsSync(box.path('unreachable'))).toBe(false);
    // A CI job goes on: it builds, and publishes nowhere (the only store is down) instead of retrying there.
    const built = await terrarium(['-t', box.path('built-offline'), '--no-cache', '--s3-max-retries', '0', 'install', 'requirements.txt']);
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).toMatch(new RegExp(`warning: cannot read s3://${BUCKET}/${prefix}${key}\\.json.*; going on without s3://${BUCKET}/${prefix}`));
    expect(built.stderr).not.toContain('publish to');
    // The same with the server stopped: nothing listens at its address any more.
    const stopped = await terrarium(['-t', box.path('built-stopped'), '--no-cache', '--s3-max-retries', '0', 'install', 'requirements.txt'], {
      S3_ENDPOINT: `http://127.0.0.1:${await closedPort()}`,
    });
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stderr).toMatch(
      new RegExp(`warning: cannot read s3://${BUCKET}/${prefix}${key}\\.json at http://127\\.0\\.0\\.1:\\d+.*ECONNREFUSED.*; going on without`),
    );
    expect(stopped.stderr).not.toContain('publish to');
    // The last line says the bucket got nothing, and --json names it.
    expect(stopped.stderr).toMatch(new RegExp(`built ${key}, not published to s3://${BUCKET}/${prefix} \\(unreachable\\); installed at`));
    const json = await terrarium(['-t', box.path('built-json'), '--no-cache', '--s3-max-retries', '0', '--json', 'install', 'requirements.txt'], {
      S3_ENDPOINT: `http://127.0.0.1:${await closedPort()}`,
    });
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, hit: false, published: [], unreachable: [`s3://${BUCKET}/${prefix}`] });
  });

  it('resumes a download cut in the middle', async () => {
    proxy.minResponse = 100_000;
    proxy.inject('reset-response', 1, 200_000);
    const reset = await terrarium(['-t', box.path('cut'), '--no-cache', '--require-download', 'install', 'requirements.txt']);
    expect(reset.code, reset.stderr).toBe(0);
    expect(proxy.faulted).toBe(1);
    expect(reset.stderr).toMatch(/download of \S+ broke at byte \d+ .*; resuming \(retry 1 of 3\)/);
    proxy.minResponse = 0;
  });

  it('resumes a download that stalls', async () => {
    proxy.minResponse = 100_000;
    proxy.inject('stall-response', 1, 200_000);
    const stalled = await terrarium(['-t', box.path('stalled'), '--no-cache', '--s3-timeout', '2', '--require-download', 'install', 'requirements.txt']);
    expect(stalled.code, stalled.stderr).toBe(0);
    expect(stalled.stderr).toContain('resuming');
    proxy.minResponse = 0;
  });

  it('says no credentials were found when neither keys nor the AWS chain supply any', async () => {
    // Nothing in the environment, no profile in this HOME, and no instance metadata to ask.
    const result = await box.terrarium(['-t', box.path('no-credentials'), '--no-cache', 'install', 'requirements.txt'], {
      S3_BUCKET: BUCKET,
      S3_ENDPOINT: proxy.endpoint,
      S3_PATH_STYLE: '1',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    expect(result.code).toBe(5);
    expect(result.stderr).toContain(`cannot read s3://${BUCKET}/`);
    expect(result.stderr).toContain(': no S3 credentials found');
    expect(result.stderr).not.toContain('access denied');
  });

  it('refuses wrong credentials and a missing bucket at once, without retrying', async () => {
    const started = Date.now();
    const denied = await terrarium([
      '-VV',
      '-t',
      box.path('denied'),
      '--no-cache',
      '--s3-access-key',
      'NOT-A-KEY',
      '--s3-secret-key',
      'wrong-secret-123',
      'install',
      'requirements.txt',
    ]);
    expect(denied.code).toBe(5);
    expect(denied.stderr).toContain('access denied (InvalidAccessKeyId)');
    expect(denied.stderr).not.toContain('wrong-secret-123');
    expect(denied.stderr).not.toContain('NOT-A-KEY');
    const missing = await terrarium(['-t', box.path('missing'), '--no-cache', '--s3-bucket', 'no-such-bucket', 'install', 'requirements.txt']);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain('bucket no-such-bucket does not exist');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a corrupted object is discarded and rebuilt, or exit 6 under --require-download', async () => {
    const blob = (await s3.keys(prefix)).find((k) => k.endsWith('.tar.zst'))!;
    const bytes = await s3.get(blob);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await s3.put(blob, bytes);
    const strict = await terrarium(['-t', box.path('strict'), '--no-cache', '--require-download', 'install', 'requirements.txt']);
    expect(strict.code).toBe(6);
    expect(strict.stderr).toContain(`s3://${BUCKET}/${prefix}: archive ${key} is unusable`);
    expect(await s3.keys(prefix)).toEqual([]);
    const rebuilt = await terrarium(['-t', box.path('rebuilt'), '--no-cache', 'install', 'requirements.txt']);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(await s3.keys(prefix)).toHaveLength(2);
  });

  it('two machines publishing one key at once both succeed; the bucket ends with one valid archive', async () => {
    await s3.clear();
    // Both build (--build-wait 0: no waiting for the other's lease), so that their publications race.
    const runs = await Promise.all(
      [1, 2].map((i) =>
        terrarium(['-t', box.path(`race-${i}`), '--build-wait', '0', 'install', 'requirements.txt'], { XDG_CACHE_HOME: box.path(`race-cache-${i}`) }),
      ),
    );
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    const records = (await s3.keys(prefix)).filter((k) => k.endsWith('.json'));
    expect(records).toEqual([`${prefix}${key}.json`]);
    const verify = await terrarium(['-t', box.path('race-check'), '--no-cache', '--require-download', 'install', 'requirements.txt']);
    expect(verify.code, verify.stderr).toBe(0);
  });

  it('ls lists the archives of each store; prune deletes old ones (or only says so with --dry-run)', async () => {
    const listed = await terrarium(['--no-cache', 'ls']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(`s3://${BUCKET}/${prefix} (1 archive`);
    expect(listed.stdout).toMatch(new RegExp(`  ${key} +[0-9.]+ MiB  20\\d\\d-`));
    // A miss lists the bucket's newest records of this key's prefix and names the nearest one.
    box.write('more.txt', 'terra-demo\nterra-dep\n');
    const miss = await terrarium(['--no-cache', '--require-download', '-t', box.path('nearest'), 'install', 'more.txt']);
    expect(miss.code).toBe(10);
    expect(miss.stderr).toContain(`; nearest is ${key} (built `);
    expect(miss.stderr).toContain(`in s3://${BUCKET}/${prefix}): + terra-dep\n`);
    const before = await s3.keys(prefix);
    // The cache is not a store prune touches, even when it holds the archive.
    const cached = readdirSync(path.join(box.path('machine-2-cache'), 'terrarium', 'v1')).filter((n) => n.endsWith('.tar.zst'));
    expect(cached).toHaveLength(1);
    const dry = await terrarium(['prune', '--keep', '0', '--dry-run'], { XDG_CACHE_HOME: box.path('machine-2-cache') });
    expect(dry.stdout).toContain(`would delete ${key}`);
    expect(dry.stderr).toContain(`would look in s3://${BUCKET}/${prefix} and nowhere else`);
    expect(await s3.keys(prefix)).toEqual(before);
    const kept = await terrarium(['--no-cache', 'prune', '--older-than', '1d']);
    expect(kept.stdout).toBe('');
    const pruned = await terrarium(['--no-cache', 'prune', '--keep', '0']);
    expect(pruned.stdout).toContain(`deleted ${key}`);
    expect((await s3.keys(prefix)).filter((k) => k.endsWith('.json'))).toEqual([]);
    expect(readdirSync(path.join(box.path('machine-2-cache'), 'terrarium', 'v1')).filter((n) => n.endsWith('.tar.zst'))).toEqual(cached);
  });
});
