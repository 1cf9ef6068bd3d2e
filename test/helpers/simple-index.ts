import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { python3 } from './python.js';

/**
 * A package index on loopback as PyPI serves one (PEP 503 pages, each file with its sha256, and its
 * metadata beside it as PEP 658 says), over a folder of wheels; it notes every path asked for, so a
 * test can say which files pip fetched.
 */
export class SimpleIndex {
  private server: Server | undefined;
  readonly requests: string[] = [];

  constructor(private readonly wheels: string) {}

  /** Starts it; returns the index URL (for PIP_INDEX_URL). */
  async start(): Promise<string> {
    const files = readdirSync(this.wheels).filter((file) => file.endsWith('.whl'));
    const metadata = new Map(files.map((file) => [file, wheelMetadata(path.join(this.wheels, file))]));
    const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
    const project = (file: string) =>
      file
        .split('-')[0]!
        .toLowerCase()
        .replace(/[-_.]+/g, '-');
    this.server = createServer((request, response) => {
      const url = decodeURIComponent(request.url ?? '/');
      this.requests.push(url);
      const page = /^\/simple\/([^/]+)\/$/.exec(url)?.[1];
      const file = /^\/files\/([^/]+)$/.exec(url)?.[1];
      if (page) {
        const links = files.filter((f) => project(f) === page);
        if (!links.length) return void response.writeHead(404).end();
        const anchors = links.map((f) => {
          const meta = `sha256=${sha(metadata.get(f)!)}`;
          return `<a href="/files/${f}#sha256=${sha(readFileSync(path.join(this.wheels, f)))}" data-dist-info-metadata="${meta}" data-core-metadata="${meta}">${f}</a>`;
        });
        response.writeHead(200, { 'content-type': 'text/html' });
        response.end(`<!DOCTYPE html><html><body>\n${anchors.join('<br>\n')}\n</body></html>\n`);
      } else if (file?.endsWith('.metadata') && metadata.has(file.slice(0, -'.metadata'.length))) {
        response.writeHead(200).end(metadata.get(file.slice(0, -'.metadata'.length)));
      } else if (file && files.includes(file)) {
        response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(path.join(this.wheels, file)));
      } else {
        response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/simple`;
  }

  /** The wheels fetched (not their metadata), by file name. */
  wheelsFetched(): string[] {
    return this.requests.filter((url) => url.startsWith('/files/') && url.endsWith('.whl')).map((url) => url.slice('/files/'.length));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** A wheel's METADATA file, read with Python's zipfile (the same bytes pip would read from the wheel). */
function wheelMetadata(wheel: string): Buffer {
  return execFileSync(python3(), [
    '-c',
    'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nname = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")][0]\nsys.stdout.buffer.write(z.read(name))',
    wheel,
  ]);
}
