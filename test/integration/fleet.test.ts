import { type ChildProcess, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HOST_TAG } from '../../src/io/owner.js';
import { type Platform, platformOf } from '../../src/python/fingerprint.js';
import { createReporter } from '../../src/report/reporter.js';
import { S3Store } from '../../src/stores/s3.js';
import { type CliResult, Sandbox } from '../helpers/cli.js';
import { envState } from '../helpers/env-state.js';
import { GatedIndex } from '../helpers/gated-index.js';
import { testFingerprint } from '../helpers/manifest.js';
import { ARCH } from '../helpers/python.js';
import { ACCESS_KEY, BUCKET, ConditionalWrites, FaultProxy, S3TestServer, SECRET_KEY } from '../helpers/s3.js';

interface Runner {
  result: Promise<CliResult>;
  child: ChildProcess | undefined;
  output: string;
}

/**
 * Runners that miss one key at once (each with its own cache and target, one storage directory): one
 * builds, the others wait for its archive. pip reads from an index that answers only when the test
 * opens it, so that every runner is known to have missed and to be waiting before the build can end.
 */
describe('one build for many runners', () => {
  const box = new Sandbox();
  beforeAll(() => {
    box.write('fleet.txt', 'terra-demo\n');
    box.write('broken.txt', 'terra-demo\nterra-missing\n');
  });
  afterAll(() => box.cleanup());

  /**
   * Starts one install as runner `name` of a fleet, with the fleet's storage directory unless `env`
   * names another store; its output accumulates in `output`.
   */
  function start(fleet: string, name: string, file: string, index: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Runner {
    const seen: Omit<Runner, 'result'> = { child: undefined, output: '' };
    const store = env.S3_BUCKET ? [] : ['--storage-dir', box.path(`${fleet}-store`)];
    const args = [...store, '--cache-dir', box.path(`${fleet}-cache-${name}`), ...extra];
    const result = box.terrarium(
      [...args, '-t', box.path(`${fleet}-env-${name}`), 'install', file],
      { ...env, PIP_FIND_LINKS: index },
      {
        onSpawn: (child) => {
          seen.child = child;
        },
        onOutput: (chunk) => {
          seen.output += chunk;
        },
      },
    );
    return Object.assign(seen, { result });
  }

  /** Resolves once `predicate` holds; fails with what the runners printed if it does not within a minute. */
  function until(runners: Runner[], predicate: () => boolean): Promise<void> {
    return vi.waitFor(
      () => {
        if (!predicate()) throw new Error(`runners so far:\n${runners.map((runner) => runner.output).join('\n---\n')}`);
      },
      { timeout: 60_000, interval: 20 },
    );
  }

  const building = (runner: Runner) => runner.output.includes('terrarium: building ');
  const waiting = (runner: Runner) => runner.output.includes('is being built by');

  /**
   * Starts runners `names` of a fleet at once on `file`, against a closed index; runs `body` once one
   * of them builds and all the others wait, with the index to open.
   */
  async function fleet(
    name: string,
    file: string,
    names: string[],
    env: NodeJS.ProcessEnv,
    body: (runners: Runner[], gated: GatedIndex, index: string) => Promise<void>,
    extra: string[] = [],
  ): Promise<void> {
    const gated = new GatedIndex(box.wheels);
    const index = await gated.start();
    try {
      const runners = names.map((runner) => start(name, runner, file, index, extra, env));
      await until(runners, () => runners.filter(building).length === 1 && runners.filter(waiting).length === names.length - 1);
      await body(runners, gated, index);
    } finally {
      await gated.stop();
    }
  }

  it('four runners that miss one key at once build it once; the others wait and restore its archive', async () => {
    await fleet(
      'four',
      'fleet.txt',
      ['a', 'b', 'c', 'd'],
      {},
      async (runners, gated) => {
        gated.open();
        const results = await Promise.all(runners.map((runner) => runner.result));
        for (const result of results) expect(result.code, result.stderr).toBe(0);
        expect(results.filter((result) => result.stderr.includes('terrarium: built '))).toHaveLength(1);
        expect(results.filter((result) => result.stderr.includes('terrarium: restored '))).toHaveLength(3);
        for (const name of ['a', 'b', 'c', 'd']) expect(envState(box.path(`four-env-${name}`))).toBe('terra_demo');
        const waiter = results.find((result) => result.stderr.includes('is being built by'))!;
        expect(waiter.stderr).toMatch(/is being built by \S+ \(pid \d+\) since \d\d:\d\d:\d\d; waiting for its archive \(up to 300 s, --build-wait\)/);
        // The lease is gone with its build, and no failure was left.
        expect(readdirSync(box.path('four-store')).filter((file) => /\.(lease|build-failed)$/.test(file))).toEqual([]);
        // --json says who waited, how long and for whom.
        const docs = results.map((result) => JSON.parse(result.stdout) as { hit: boolean; waited: { seconds: number; host: string; pid: number } | null });
        const builderPid = runners[docs.findIndex((doc) => !doc.hit)]!.child!.pid;
        expect(docs.filter((doc) => doc.waited === null)).toHaveLength(1);
        for (const doc of docs.filter((d) => d.hit)) expect(doc.waited).toEqual({ seconds: expect.any(Number), host: hostname(), pid: builderPid });
      },
      ['--json'],
    );
  });

  it('a builder killed mid-build is replaced by exactly one waiter; the other restores what it builds', async () => {
    await fleet('killed', 'fleet.txt', ['a', 'b', 'c'], {}, async (runners, gated) => {
      const builder = runners.find(building)!;
      builder.child!.kill('SIGKILL');
      expect((await builder.result).signal).toBe('SIGKILL');
      gated.open();
      const waiters = runners.filter((runner) => runner !== builder);
      const results = await Promise.all(waiters.map((runner) => runner.result));
      for (const result of results) expect(result.code, result.stderr).toBe(0);
      expect(results.filter((result) => result.stderr.includes('the builder is gone; building here'))).toHaveLength(1);
      expect(results.filter((result) => result.stderr.includes('terrarium: restored '))).toHaveLength(1);
      for (const [i, name] of ['a', 'b', 'c'].entries()) if (runners[i] !== builder) expect(envState(box.path(`killed-env-${name}`))).toBe('terra_demo');
    });
  });

  it("a failing build makes its waiters fail fast with the builder's error; a later run tries again", async () => {
    await fleet('broken', 'broken.txt', ['a', 'b', 'c'], {}, async (runners, gated, index) => {
      gated.open();
      const builder = await runners.find(building)!.result;
      expect(builder.code).toBe(1);
      expect(builder.stderr).toContain('No matching distribution found for terra-missing');
      for (const runner of runners.filter((r) => !building(r))) {
        const result = await runner.result;
        expect(result.code).toBe(7);
        expect(result.stderr).toMatch(
          new RegExp(`error: ${ARCH}-\\S+ failed to build on \\S+ \\(pid \\d+\\) [\\d.]+ m?s ago \\(BUILD_PIP_FAILED: pip install failed \\(exit 1\\)`),
        );
        expect(result.stderr).toContain('not building it again here');
        expect(result.stderr).toContain('hint: fix what that build reported (its log has the details), or pass --build-wait 0 to build here anyway');
        expect(result.stderr).not.toContain('No matching distribution');
      }
      // A run on this host that comes later tries again (test/unit/lease.test.ts): its user, after a fix.
      const again = await start('broken', 'e', 'broken.txt', index).result;
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('No matching distribution found for terra-missing');
      for (const name of ['a', 'b', 'c', 'e']) expect(envState(box.path(`broken-env-${name}`))).toBe('missing');
    });
  });

  it('a failure another host reported moments ago fails a run fast; --build-wait 0 builds anyway and clears it', async () => {
    const store = box.path('noted-store');
    mkdirSync(store);
    const key = (await box.main(['key', 'fleet.txt'])).stdout.trim();
    const note = path.join(store, `${key}.build-failed`);
    const holder = { host: 'ffffffff', hostname: 'runner-9', pid: 77, nonce: 'x', since: new Date().toISOString() };
    writeFileSync(note, JSON.stringify({ holder, at: new Date().toISOString(), code: 'BUILD_PIP_FAILED', message: 'pip install failed (exit 1)' }));
    const failed = await box.terrarium(['--storage-dir', store, '-t', box.path('noted-env'), 'install', 'fleet.txt']);
    expect(failed.code).toBe(7);
    expect(failed.stderr).toContain(`${key} failed to build on runner-9 (pid 77)`);
    expect(envState(box.path('noted-env'))).toBe('missing');
    const forced = await box.terrarium(['--storage-dir', store, '--build-wait', '0', '-t', box.path('noted-env'), 'install', 'fleet.txt']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(envState(box.path('noted-env'))).toBe('terra_demo');
    expect(existsSync(note)).toBe(false);
  });

  it('a run that will not publish never waits on a lease; one that does waits --build-wait seconds at most', async () => {
    const store = box.path('held-store');
    mkdirSync(store);
    const key = (await box.main(['key', 'fleet.txt'])).stdout.trim();
    // Held by this test process, alive on this host: a run that looked at it would wait.
    writeFileSync(path.join(store, `${key}.lease`), JSON.stringify({ host: HOST_TAG, pid: process.pid, nonce: 'held', since: new Date().toISOString() }));
    const run = await box.terrarium(['--storage-dir', store, '--no-upload', '-t', box.path('held-env'), 'install', 'fleet.txt']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toContain('is being built by');
    expect(envState(box.path('held-env'))).toBe('terra_demo');
    const bounded = await box.terrarium(['--storage-dir', store, '--build-wait', '1', '-t', box.path('bounded-env'), 'install', 'fleet.txt']);
    expect(bounded.code, bounded.stderr).toBe(0);
    expect(bounded.stderr).toContain('waiting for its archive (up to 1 s, --build-wait)');
    expect(bounded.stderr).toContain(`warning: gave up waiting for an unknown host (pid ${process.pid}) after 1 s (--build-wait); building ${key} here too`);
    expect(bounded.stderr).toContain('terrarium: built ');
  });

  describe('in an S3 bucket', () => {
    const s3 = new S3TestServer();
    const conditional = new ConditionalWrites(s3);
    const env = (endpoint: string, prefix: string) => ({
      S3_BUCKET: BUCKET,
      S3_ACCESS_KEY: ACCESS_KEY,
      S3_SECRET_KEY: SECRET_KEY,
      S3_ENDPOINT: endpoint,
      S3_PREFIX: prefix,
      S3_PATH_STYLE: '1',
    });
    /** An S3Store of this process, through the proxy that applies AWS's conditional-write rules. */
    const directStore = (prefix: string) =>
      new S3Store(
        {
          bucket: BUCKET,
          prefix,
          region: undefined,
          endpoint: conditional.endpoint,
          pathStyle: true,
          accessKey: ACCESS_KEY,
          secretKey: SECRET_KEY,
        },
        { retries: 0, timeoutSeconds: 10 },
        createReporter({ stdout: { write: () => true }, stderr: { write: () => true } }, 0),
      );
    beforeAll(async () => {
      await s3.start();
      await conditional.start();
    });
    afterAll(async () => {
      await conditional.stop();
      await s3.stop();
    });

    it('with conditional writes (as AWS and GCS have them): four runners, one build', async () => {
      await fleet('s3', 'fleet.txt', ['a', 'b', 'c', 'd'], env(conditional.endpoint, 'fleet/'), async (runners, gated) => {
        gated.open();
        const results = await Promise.all(runners.map((runner) => runner.result));
        for (const result of results) expect(result.code, result.stderr).toBe(0);
        expect(results.filter((result) => result.stderr.includes('terrarium: built '))).toHaveLength(1);
        expect(results.filter((result) => result.stderr.includes('terrarium: restored '))).toHaveLength(3);
        for (const result of results) expect(result.stderr).not.toContain('ignores conditional writes');
        // The second create of the lease, which tells a server that honours them: refused.
        expect(conditional.refused).toBeGreaterThanOrEqual(1);
        for (const name of ['a', 'b', 'c', 'd']) expect(envState(box.path(`s3-env-${name}`))).toBe('terra_demo');
        expect((await s3.keys('fleet/')).filter((name) => /\.(lease|build-failed)$/.test(name))).toEqual([]);
      });
    });

    it('a lease whose holder died is taken over by exactly one of the runners that find it (If-Match on its ETag)', async () => {
      const dead = spawnSync('true').pid!;
      const stale = { host: HOST_TAG, hostname: 'gone', pid: dead, nonce: 'stale', since: new Date().toISOString() };
      await s3.put(`takeover/${ARCH}-3.11-abc.lease`, JSON.stringify(stale));
      const runners = [0, 1, 2].map(() => directStore('takeover/'));
      const attempts = await Promise.all(runners.map((store) => store.leases.take(`${ARCH}-3.11-abc`)));
      expect(attempts.map((attempt) => attempt.kind).sort()).toEqual(['busy', 'busy', 'held']);
      const held = attempts.find((attempt) => attempt.kind === 'held')!;
      if (held.kind === 'held') await held.lease.release();
      expect(await s3.keys('takeover/')).toEqual([]);
    });

    it('archives of one key for two platforms, published at once: one record holds both (If-Match), each platform finds its own', async () => {
      const platform = (libc: string, libcVersion: string) => ({ ...platformOf(testFingerprint()), libc, libcVersion, soabi: `cpython-311-${libc}` });
      const [glibc, musl] = [platform('glibc', '2.36'), platform('musl', '1.2')];
      const archive = (text: string, on: Platform) => {
        const file = box.write(`variant-${text}`, text);
        return {
          path: file,
          sha256: createHash('sha256').update(text).digest('hex'),
          size: text.length,
          codec: 'zstd' as const,
          unpackedSize: 0,
          entries: 0,
          platform: on,
        };
      };
      const results = await Promise.all(
        [archive('glibc one', glibc), archive('musl one', musl), archive('glibc two', glibc)].map((a) => directStore('variants/').publish('k', a, 'test')),
      );
      expect(results.map((r) => r.outcome).sort()).toEqual(['present', 'published', 'published']);
      const store = directStore('variants/');
      expect((await store.list()).map((r) => r.platform?.libc).sort()).toEqual(['glibc', 'musl']);
      const mine = await store.lookup('k', musl);
      expect(mine?.platform?.libc).toBe('musl');
      await store.discard(mine!);
      expect(await store.lookup('k', musl)).toBeUndefined();
      expect((await store.lookup('k', glibc))?.platform?.libc).toBe('glibc');
      expect((await s3.keys('variants/')).filter((name) => name.endsWith('.tar.zst'))).toHaveLength(1);
    });

    it('a bucket that becomes unreachable while a run waits: the run builds here, with a warning, and succeeds', async () => {
      const proxy = new FaultProxy(() => s3.port);
      await proxy.start();
      let stopped = false;
      try {
        const key = (await box.main(['key', 'fleet.txt'])).stdout.trim();
        const held = { host: HOST_TAG, hostname: 'test', pid: process.pid, nonce: 'held', since: new Date().toISOString() };
        await s3.put(`gone/${key}.lease`, JSON.stringify(held));
        const runner = start('gone', 'a', 'fleet.txt', box.wheels, [], { ...env(proxy.endpoint, 'gone/'), S3_MAX_RETRIES: '0' });
        await until([runner], () => waiting(runner));
        // Its connections cut and its port closed: the SDK's kept-alive sockets go too.
        await proxy.stop();
        stopped = true;
        const result = await runner.result;
        expect(result.code, result.stderr).toBe(0);
        expect(result.stderr).toContain('terrarium: built ');
        expect(result.stderr).toMatch(
          new RegExp(`warning: s3:\\/\\/terrarium-test\\/gone\\/: no build lease for ${ARCH}-\\S+ \\(.*ECONNREFUSED.*\\); building it here`),
        );
        expect(result.stderr).not.toContain('gave up waiting');
        expect(envState(box.path('gone-env-a'))).toBe('terra_demo');
      } finally {
        if (!stopped) await proxy.stop();
      }
    });

    it('on a server that ignores them (s3rver): the lease is best effort, said once, and every runner gets the environment', async () => {
      const gated = new GatedIndex(box.wheels);
      const index = await gated.start();
      try {
        const first = start('s3rver', 'a', 'fleet.txt', index, [], env(s3.endpoint, 'plain/'));
        await until([first], () => building(first));
        const others = ['b', 'c'].map((name) => start('s3rver', name, 'fleet.txt', index, [], env(s3.endpoint, 'plain/')));
        await until(others, () => others.every(waiting));
        gated.open();
        const results = await Promise.all([first, ...others].map((runner) => runner.result));
        for (const result of results) expect(result.code, result.stderr).toBe(0);
        expect(results[0]!.stderr.match(/ignores conditional writes/g)).toHaveLength(1);
        expect(results[0]!.stderr).toContain('the build lease is best effort, two runners may build one key');
        expect(results.filter((result) => result.stderr.includes('terrarium: restored '))).toHaveLength(2);
        for (const name of ['a', 'b', 'c']) expect(envState(box.path(`s3rver-env-${name}`))).toBe('terra_demo');
      } finally {
        await gated.stop();
      }
    });
  });
});
