import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/errors.js';
import { type ArchiveRecord, blobName } from '../../src/stores/store.js';
import { Sandbox } from '../helpers/cli.js';
import { envState } from '../helpers/env-state.js';
import { ACCESS_KEY, BUCKET, FaultProxy, S3TestServer, SECRET_KEY } from '../helpers/s3.js';

/** --s3-timeout is the silence allowed: a slow but steady store is waited for, a trickling record is a warning and a build. */
describe('an HTTP store that is slow', () => {
  const box = new Sandbox();
  let key: string;
  /** The file served slowly (its path in the store), and how: `piece` bytes every `everyMs`. */
  let slow: { file: string; piece: number; everyMs: number } | undefined;
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent(req.url!.slice(1));
    let body: Buffer;
    try {
      if (!statSync(path.join(box.store, name)).isFile()) throw new Error('not a file');
      body = readFileSync(path.join(box.store, name));
    } catch {
      return void res.writeHead(404).end();
    }
    res.writeHead(200, { 'content-length': body.length });
    if (slow?.file !== name) return void res.end(body);
    const { piece, everyMs } = slow;
    let at = 0;
    const timer = setInterval(() => {
      res.write(body.subarray(at, at + piece));
      at += piece;
      if (at >= body.length) {
        clearInterval(timer);
        res.end();
      }
    }, everyMs);
    res.on('close', () => clearInterval(timer));
  });
  let url: string;
  const install = (target: string, ...options: string[]) =>
    box.terrarium(['--storage-url', url, '--no-cache', '--s3-timeout', '1', ...options, '-t', box.path(target), 'install', 'requirements.txt']);

  beforeAll(async () => {
    box.write('requirements.txt', 'terra-demo\n');
    key = await box.seed('demo');
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    box.cleanup();
  });

  it('a layer that comes slowly but steadily, over several times the silence allowed, is waited for', async () => {
    const record = JSON.parse(readFileSync(path.join(box.store, `${key}.json`), 'utf8')) as ArchiveRecord;
    const smallest = [...record.layers!].sort((a, b) => a.size - b.size)[0]!;
    slow = { file: blobName(smallest.sha256), piece: Math.ceil(smallest.size / 12), everyMs: 300 };
    const result = await install('steady', '--require-download');
    expect(result.code, result.stderr).toBe(0);
    expect(envState(box.path('steady'))).toBe('terra_demo');
  });

  it('a record that trickles in is a warning and a build; under --require-download, exit 5', async () => {
    slow = { file: `${key}.json`, piece: 16, everyMs: 300 };
    const built = await install('trickled');
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).toMatch(/not received whole within 4 s/);
    expect(envState(box.path('trickled'))).toBe('terra_demo');
    const required = await install('trickled-required', '--require-download');
    expect(required.code, required.stderr).toBe(EXIT.storage);
    expect(required.stderr).toMatch(/not received whole within 4 s/);
  });

  describe('an S3 endpoint', () => {
    const s3 = new S3TestServer();
    const proxy = new FaultProxy(() => s3.port);
    const env = () => ({ S3_BUCKET: BUCKET, S3_ACCESS_KEY: ACCESS_KEY, S3_SECRET_KEY: SECRET_KEY, S3_ENDPOINT: proxy.endpoint, S3_PATH_STYLE: '1' });
    const fromS3 = (target: string, ...options: string[]) =>
      box.terrarium(['--no-cache', '--s3-timeout', '1', '--s3-max-retries', '0', ...options, '-t', box.path(target), 'install', 'requirements.txt'], env());
    beforeAll(async () => {
      await s3.start();
      await proxy.start();
      const published = await fromS3('s3-first');
      expect(published.code, published.stderr).toBe(0);
    });
    afterAll(async () => {
      await proxy.stop();
      await s3.stop();
    });

    it('a record that trickles in is passed over: exit 5 under --require-download, never a hang', async () => {
      proxy.inject('trickle-response', 1, 0);
      const required = await fromS3('s3-trickled', '--require-download');
      expect(required.code, required.stderr).toBe(EXIT.storage);
      expect(required.stderr).toMatch(/not received whole within 4 s/);
    });
  });
});
