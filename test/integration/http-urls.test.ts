import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.js';
import { envState } from '../helpers/env-state.js';

const TOKEN = 'sekrit-token-value';

/** The URL of an HTTP store as users give it: a token in its query is used but never shown; a redirect elsewhere is said. */
describe("an HTTP store's URL", () => {
  const box = new Sandbox();
  const seen: Array<{ host: string; url: string }> = [];
  /** Serves the store's files under /envs/ to requests that carry the token; /moved/ redirects to the other host. */
  const serve = (host: string) =>
    http.createServer((req, res) => {
      const url = new URL(req.url!, `http://${host}`);
      seen.push({ host, url: req.url! });
      if (url.pathname.startsWith('/moved/')) {
        return void res.writeHead(302, { location: `http://${other.address}/envs/${url.pathname.slice('/moved/'.length)}` }).end();
      }
      if (host === '127.0.0.1' && url.searchParams.get('token') !== TOKEN) return void res.writeHead(403).end();
      const file = path.join(box.store, decodeURIComponent(url.pathname.slice('/envs/'.length)));
      try {
        if (!statSync(file).isFile()) throw new Error('not a file');
      } catch {
        return void res.writeHead(404).end();
      }
      res.writeHead(200).end(readFileSync(file));
    });
  const main = { server: serve('127.0.0.1'), address: '' };
  const other = { server: serve('127.0.0.2'), address: '' };
  const listen = async (side: typeof main, host: string) => {
    await new Promise<void>((resolve) => side.server.listen(0, host, resolve));
    side.address = `${host}:${(side.server.address() as AddressInfo).port}`;
  };

  beforeAll(async () => {
    box.write('requirements.txt', 'terra-demo\n');
    await box.seed('demo');
    await listen(main, '127.0.0.1');
    await listen(other, '127.0.0.2');
  });
  afterAll(async () => {
    for (const { server } of [main, other]) await new Promise((resolve) => server.close(resolve));
    box.cleanup();
  });

  it('keeps its query after each object name, and never prints the token', async () => {
    const url = `http://${main.address}/envs?token=${TOKEN}`;
    const result = await box.terrarium([
      '-V',
      '--storage-url',
      url,
      '--no-cache',
      '--require-download',
      '-t',
      box.path('with-token'),
      'install',
      'requirements.txt',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(envState(box.path('with-token'))).toBe('terra_demo');
    expect(result.stderr).toContain(`http://${main.address}/envs/?token=***`);
    expect(result.stdout + result.stderr).not.toContain(TOKEN);
  });

  it('a redirect to another host is said under -V, and the token does not go along', async () => {
    seen.length = 0;
    const url = `http://${main.address}/moved?token=${TOKEN}`;
    const result = await box.terrarium([
      '-V',
      '--storage-url',
      url,
      '--no-cache',
      '--require-download',
      '-t',
      box.path('moved'),
      'install',
      'requirements.txt',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`redirects to another host: http://${other.address.replace(/\./g, '\\.')}/envs/`));
    expect(seen.filter(({ host }) => host === '127.0.0.2').length).toBeGreaterThan(0);
    expect(seen.filter(({ host, url }) => host === '127.0.0.2' && url.includes(TOKEN))).toEqual([]);
    expect(result.stdout + result.stderr).not.toContain(TOKEN);
  });
});
