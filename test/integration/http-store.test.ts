import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, Sandbox } from '../helpers/cli.js';
import { envState } from '../helpers/env-state.js';
import { ARCH } from '../helpers/python.js';

/** The read-only HTTP store against a loopback web server that serves a storage directory. */
describe('HTTP store', () => {
  const box = new Sandbox();
  const requests: string[] = [];
  /** Answer the next N archive requests with 503, as an overloaded CDN would. */
  let failNext = 0;
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}${req.headers.range ? ` ${req.headers.range}` : ''}`);
    const file = path.join(box.store, decodeURIComponent(req.url!.replace(/^\/envs\//, '')));
    if (req.method !== 'GET' || !req.url!.startsWith('/envs/')) return void res.writeHead(405).end();
    if (file.endsWith('.tar.zst') && failNext > 0) {
      failNext -= 1;
      return void res.writeHead(503).end();
    }
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      return void res.writeHead(404).end();
    }
    const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    res.writeHead(start ? 206 : 200, {
      'content-length': size - start,
      etag: `"${size}"`,
      ...(start ? { 'content-range': `bytes ${start}-${size - 1}/${size}` } : {}),
    });
    createReadStream(file, { start }).pipe(res);
  });
  let url: string;

  beforeAll(async () => {
    box.write('requirements.txt', 'terra-demo\n');
    box.write('other.txt', 'terra-dep\n');
    await box.seed('demo', box.store, 1);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/envs`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    box.cleanup();
  });

  it('restores with plain GETs, retrying a 503, and keeps the archive in the cache', async () => {
    failNext = 1;
    const result = await box.terrarium(['-t', box.path('from-http'), '--require-download', 'install', 'requirements.txt'], { TERRARIUM_STORAGE_URL: url });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`from ${url}/`);
    expect(envState(box.path('from-http'))).toBe('terra_demo');
    expect(requests.every((r) => r.startsWith('GET '))).toBe(true);
    expect(requests.filter((r) => r.endsWith('.tar.zst'))).toHaveLength(2);
    expect(readdirSync(path.join(box.dir, '.cache', 'terrarium', 'v1')).filter((n) => n.endsWith('.tar.zst'))).toHaveLength(1);
  });

  it('a key it does not have is a miss: built locally, never uploaded to it', async () => {
    const before = readdirSync(box.store).sort();
    requests.length = 0;
    const result = await box.terrarium(['-t', box.path('built'), '--storage-url', url, '--no-cache', 'install', 'other.txt']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('building');
    expect(requests.every((r) => r.startsWith('GET '))).toBe(true);
    expect(readdirSync(box.store).sort()).toEqual(before);
  });

  it('an unreachable server is a warning naming it and the cause, and the install builds; under --require-download, exit 5', async () => {
    const downUrl = `http://127.0.0.1:${await closedPort()}/envs`;
    const down = ['--storage-url', downUrl, '--s3-max-retries', '1', '--no-cache', 'install', 'other.txt'];
    const strict = await box.terrarium(['-t', box.path('down-strict'), '--require-download', ...down]);
    expect(strict.code).toBe(5);
    expect(strict.stderr).toContain(`error: cannot read ${downUrl}/${ARCH}-`);
    expect(strict.stderr).toMatch(/\.json after 2 attempts: connect ECONNREFUSED/);
    expect(existsSync(box.path('down-strict'))).toBe(false);
    const built = await box.terrarium(['-t', box.path('down'), '--json', ...down]);
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).toMatch(/warning: cannot read \S+ after 2 attempts: connect ECONNREFUSED.*; going on without http:\/\/127\.0\.0\.1:\d+\/envs/);
    expect(built.stderr).toContain('building');
    // Scripts read the warning from --json by its code.
    expect(JSON.parse(built.stdout).warnings).toEqual([
      expect.objectContaining({ code: 'STORE_UNREACHABLE', store: `${downUrl}/`, cause: expect.stringContaining('ECONNREFUSED') }),
    ]);
  });
});
