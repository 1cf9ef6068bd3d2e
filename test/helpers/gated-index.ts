import { createReadStream, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

/**
 * A package index on loopback (pip's --find-links: a page of links to the wheels) that answers nothing
 * until it is opened: a build started against it stays in pip for as long as a test needs it to.
 */
export class GatedIndex {
  private server: Server | undefined;
  private release!: () => void;
  private readonly gate = new Promise<void>((resolve) => {
    this.release = resolve;
  });
  requests = 0;

  constructor(private readonly wheels: string) {}

  async start(): Promise<string> {
    this.server = createServer((request, response) => {
      this.requests += 1;
      void this.gate.then(() => {
        const name = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname.slice(1));
        const files = readdirSync(this.wheels).filter((file) => file.endsWith('.whl'));
        if (!name) {
          response.writeHead(200, { 'content-type': 'text/html' });
          response.end(`<html><body>${files.map((file) => `<a href="${file}">${file}</a>`).join('\n')}</body></html>`);
        } else if (files.includes(name)) {
          response.writeHead(200, { 'content-type': 'application/octet-stream' });
          createReadStream(path.join(this.wheels, name)).pipe(response);
        } else {
          response.writeHead(404).end();
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
  }

  open(): void {
    this.release();
  }

  async stop(): Promise<void> {
    this.open();
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
