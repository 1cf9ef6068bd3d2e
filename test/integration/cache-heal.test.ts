import { execFileSync } from 'node:child_process';
import { copyFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/errors.js';
import { type ArchiveRecord, blobName } from '../../src/stores/store.js';
import { Sandbox } from '../helpers/cli.js';
import { envState } from '../helpers/env-state.js';
import { DirectoryServer } from '../helpers/http-server.js';
import { interpreters, python3 } from '../helpers/python.js';
import { ACCESS_KEY, BUCKET, S3TestServer, SECRET_KEY } from '../helpers/s3.js';

const record = (store: string, key: string) => JSON.parse(readFileSync(path.join(store, `${key}.json`), 'utf8')) as ArchiveRecord;

/** What a damaged or planted file at a blob's name may do to a run: never hang it, never stay. */
const PLANTS: Record<string, (file: string) => void> = {
  'a FIFO': (file) => execFileSync('mkfifo', [file]),
  'a symlink to /dev/zero': (file) => symlinkSync('/dev/zero', file),
  'a directory': (file) => mkdirSync(path.join(file, 'inside'), { recursive: true }),
};

const plant = (file: string, how: string) => {
  rmSync(file, { force: true, recursive: true });
  PLANTS[how]!(file);
};

describe('damage heals: what is not a good blob is replaced, and a run never hangs on it', () => {
  const box = new Sandbox();
  let key: string;
  // A distribution's layer: a rebuild packs it to the same bytes, so the publication lands on the planted name.
  const blob = (store: string) => path.join(store, blobName(record(box.store, key).layers!.at(-1)!.sha256));
  beforeAll(async () => {
    box.write('requirements.txt', 'terra-demo\n');
    key = await box.seed('demo');
  });
  afterAll(() => box.cleanup());

  for (const how of Object.keys(PLANTS)) {
    it(`${how} at a blob's name in a storage directory: the install builds, publishes over it, and the next one restores`, async () => {
      const store = box.path(`store-${how.replace(/\W/g, '-')}`);
      await box.seed('demo', store);
      plant(blob(store), how);
      const run = (target: string, ...options: string[]) =>
        box.terrarium(['--storage-dir', store, '--no-cache', ...options, '-t', box.path(target), 'install', 'requirements.txt']);
      const first = await run(`env-${how}`);
      expect(first.code, first.stderr).toBe(0);
      expect(envState(box.path(`env-${how}`))).toBe('terra_demo');
      expect(lstatSync(blob(store)).isFile()).toBe(true);
      const second = await run(`env-${how}-2`, '--require-download');
      expect(second.code, second.stderr).toBe(0);
    });
  }

  it('a FIFO at a blob name: a publisher checking the store does not hang, and --no-download replaces it', async () => {
    const store = box.path('store-no-download');
    await box.seed('demo', store);
    plant(blob(store), 'a FIFO');
    const rebuilt = await box.terrarium(['--storage-dir', store, '--no-cache', '--no-download', '-t', box.path('env-nd'), 'install', 'requirements.txt']);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(lstatSync(blob(store)).isFile()).toBe(true);
  });

  describe("an HTTP store's cache", () => {
    const server = new DirectoryServer(box.store);
    let url: string;
    const cache = box.path('http-cache');
    const install = (target: string) =>
      box.terrarium([
        '--storage-url',
        url,
        '--cache-dir',
        cache,
        '--link-mode',
        'none',
        '--require-download',
        '-t',
        box.path(target),
        'install',
        'requirements.txt',
      ]);
    beforeAll(async () => {
      url = await server.start();
      const first = await install('http-0');
      expect(first.code, first.stderr).toBe(0);
    });
    afterAll(() => server.stop());

    it('a damaged cached layer under --require-download: the store still serves it, and the cache gets it back', async () => {
      const cached = blob(cache);
      writeFileSync(cached, Buffer.alloc(lstatSync(cached).size, 1));
      server.requests.length = 0;
      const result = await install('http-1');
      expect(result.code, result.stderr).toBe(0);
      expect(envState(box.path('http-1'))).toBe('terra_demo');
      expect(server.requests).toContain(`/${path.relative(box.store, blob(box.store))}`);
      expect(readFileSync(blob(cache))).toEqual(readFileSync(blob(box.store)));
    });

    for (const how of Object.keys(PLANTS)) {
      it(`${how} at a cached layer's name: no hang; the install restores from the store and \`cache verify\` drops what is left`, async () => {
        plant(blob(cache), how);
        const result = await install(`http-${how}`);
        expect(result.code, result.stderr).toBe(0);
        expect(lstatSync(blob(cache)).isFile()).toBe(true);
        plant(blob(cache), how);
        const verify = await box.terrarium(['--cache-dir', cache, 'cache', 'verify']);
        expect(verify.code, verify.stdout).toBe(EXIT.archive);
        expect(verify.stdout).toMatch(new RegExp(`dropped +archive +${key}`));
      });
    }
  });

  const mine = interpreters().find((i) => i.python === python3());
  const other = interpreters().find(({ name, version }) => name.startsWith('pyenv') && version.startsWith('3.1') && version !== mine?.version);

  /** The same requirements built by another Python: a store holding its archive, and its key there. */
  let built: { store: string; key: string } | undefined;
  const builtElsewhere = async () => {
    if (built) return built;
    const store = box.path('elsewhere');
    const result = await box.terrarium([
      '--storage-dir',
      store,
      '--no-cache',
      '--python',
      other!.python,
      '-t',
      box.path('other-env'),
      'install',
      'requirements.txt',
    ]);
    expect(result.code, result.stderr).toBe(0);
    built = {
      store,
      key: readdirSync(store)
        .find((name) => name.endsWith('.json'))!
        .slice(0, -'.json'.length),
    };
    return built;
  };
  /** Their record, under this Python's key and claiming this Python's platform. */
  const lyingRecord = async () => {
    const { store, key: theirKey } = await builtElsewhere();
    return { ...record(store, theirKey), key, platform: record(box.store, key).platform };
  };

  it.runIf(other)('a record whose archive is for another Python than it says is discarded, also by --no-download, and replaced', async () => {
    const store = box.path('lying-store');
    await box.seed('demo', store);
    const elsewhere = await builtElsewhere();
    const lie = async () => {
      const lying = await lyingRecord();
      for (const layer of lying.layers!) copyFileSync(path.join(elsewhere.store, blobName(layer.sha256)), path.join(store, blobName(layer.sha256)));
      writeFileSync(path.join(store, `${key}.json`), JSON.stringify(lying));
      return lying;
    };
    const run = (target: string, ...options: string[]) =>
      box.terrarium(['--storage-dir', store, '--no-cache', ...options, '-t', box.path(target), 'install', 'requirements.txt']);
    for (const heal of [[], ['--no-download']]) {
      const lying = await lie();
      const healed = await run(`lie-${heal.length}`, ...heal);
      expect(healed.code, healed.stderr).toBe(0);
      expect(record(store, key).sha256).not.toBe(lying.sha256);
      const hit = await run(`lie-${heal.length}-hit`, '--require-download');
      expect(hit.code, hit.stderr).toBe(0);
    }
  });

  it.runIf(other)('in an S3 bucket too: a record that lies about its platform is discarded and replaced, and the next run restores', async () => {
    const s3 = new S3TestServer();
    await s3.start();
    try {
      const env = { S3_BUCKET: BUCKET, S3_ACCESS_KEY: ACCESS_KEY, S3_SECRET_KEY: SECRET_KEY, S3_ENDPOINT: s3.endpoint, S3_PATH_STYLE: '1' };
      const lying = await lyingRecord();
      for (const layer of lying.layers!) await s3.put(blobName(layer.sha256), readFileSync(path.join(built!.store, blobName(layer.sha256))));
      await s3.put(`${key}.json`, JSON.stringify(lying));
      const run = (target: string, ...options: string[]) =>
        box.terrarium(['--no-cache', ...options, '-t', box.path(target), 'install', 'requirements.txt'], env);
      const healed = await run('s3-lie');
      expect(healed.code, healed.stderr).toBe(0);
      expect(healed.stderr).toMatch(/is not what its record says/);
      expect(JSON.parse((await s3.get(`${key}.json`)).toString()).sha256).not.toBe(lying.sha256);
      const hit = await run('s3-lie-hit', '--require-download');
      expect(hit.code, hit.stderr).toBe(0);
    } finally {
      await s3.stop();
    }
  });
});
