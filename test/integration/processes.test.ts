import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Sandbox } from '../helpers/cli.js';
import { envState, expectNoLeftovers } from '../helpers/env-state.js';

/** Processes whose command line names `dir`: what a build running there has started. */
function processesIn(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (command.includes(dir)) found.push(`${pid}: ${command}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe('what a build starts dies with terrarium', () => {
  const box = new Sandbox();
  let server: Server;
  const sockets: Socket[] = [];
  let port = 0;
  let connected: () => void;
  const connection = new Promise<void>((resolve) => (connected = resolve));

  beforeAll(async () => {
    // A package index that accepts connections and never answers: pip waits on it for as long as it is let.
    server = createServer((socket) => {
      sockets.push(socket);
      connected();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    box.cleanup();
  });

  it('SIGKILL during pip: pip and everything under it stop, and the next run clears the staging', async () => {
    box.write('slow.txt', `--index-url http://127.0.0.1:${port}/simple/\nterra-nowhere\n`);
    const target = box.path('env');
    const env = { PIP_NO_INDEX: '0', PIP_DEFAULT_TIMEOUT: '120', PIP_RETRIES: '0' };
    const running = box.terrarium(['--storage-dir', box.store, '-t', target, 'install', 'slow.txt'], env, {
      onSpawn: (child) => void connection.then(() => child.kill('SIGKILL')),
    });
    const result = await running;
    expect(result.signal).toBe('SIGKILL');
    await vi.waitFor(() => expect(processesIn(box.dir)).toEqual([]), { timeout: 10_000, interval: 100 });
    box.write('requirements.txt', 'terra-dep\n');
    const next = await box.terrarium(['--storage-dir', box.store, '-t', target, 'install', 'requirements.txt']);
    expect(next.code, next.stderr).toBe(0);
    expect(envState(target)).not.toBe('broken');
    await expectNoLeftovers(box.dir);
  });
});
