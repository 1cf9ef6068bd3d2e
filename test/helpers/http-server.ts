import { createReadStream, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

/** A loopback web server serving the files of a storage directory with plain GETs: what an HTTP store reads. */
export class DirectoryServer {
  readonly requests: string[] = [];
  private readonly server = http.createServer((req, res) => {
    this.requests.push(req.url!);
    const file = path.join(this.dir, decodeURIComponent(req.url!.slice(1)));
    let size: number;
    try {
      const stat = statSync(file);
      if (!stat.isFile()) throw new Error('not a file');
      size = stat.size;
    } catch {
      return void res.writeHead(404).end();
    }
    res.writeHead(200, { 'content-length': size });
    createReadStream(file).pipe(res);
  });

  constructor(private readonly dir: string) {}

  /** Starts listening; returns the store's URL. */
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
