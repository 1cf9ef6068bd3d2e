import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

export const BUCKET = 'terrarium-test';
/** s3rver's fixed credentials. */
export const ACCESS_KEY = 'S3RVER';
export const SECRET_KEY = 'S3RVER';

/** A real S3 server (s3rver) on 127.0.0.1, and an SDK client for the test to look inside the bucket. */
export class S3TestServer {
  private server: S3rver | undefined;
  private dir = mkdtempSync(path.join(tmpdir(), 'terrarium-s3-'));
  port = 0;
  client!: S3Client;

  async start(): Promise<void> {
    this.server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: this.dir, configureBuckets: [{ name: BUCKET, configs: [] }] });
    const { port } = (await this.server.run()) as { port: number };
    this.port = port;
    this.client = new S3Client({
      region: 'us-east-1',
      endpoint: this.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async keys(prefix = ''): Promise<string[]> {
    const out = await this.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
    return (out.Contents ?? []).map((o) => o.Key!).sort();
  }

  async get(key: string): Promise<Buffer> {
    const out = await this.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  }

  async put(key: string, body: Buffer | string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
  }

  async clear(): Promise<void> {
    for (const key of await this.keys()) await this.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
  }

  async stop(): Promise<void> {
    await this.server?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export type Fault = 'none' | 'refuse' | 'reset-response' | 'stall-response' | 'trickle-response';

/**
 * A TCP proxy in front of the S3 server that misbehaves on demand, the way networks do: it can reset
 * the next N connections before any answer, or cut, stall or trickle (16 bytes every 200 ms) a
 * response after its first bytes.
 */
export class FaultProxy {
  private server = net.createServer((client) => this.handle(client));
  private sockets = new Set<net.Socket>();
  port = 0;
  fault: Fault = 'none';
  /** How many more connections get the fault; then traffic passes. */
  remaining = 0;
  /** For reset/stall-response: bytes of the response let through first. */
  afterBytes = 64 * 1024;
  /** Only responses at least this long are faulted (to pick the archive download out of the record reads). */
  minResponse = 0;
  faulted = 0;

  constructor(private readonly upstreamPort: () => number) {}

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  inject(fault: Fault, times: number, afterBytes = 64 * 1024): void {
    this.fault = fault;
    this.remaining = times;
    this.afterBytes = afterBytes;
    this.faulted = 0;
  }

  private handle(client: net.Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => undefined);
    if (this.fault === 'refuse' && this.remaining > 0) {
      this.remaining -= 1;
      this.faulted += 1;
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.upstreamPort(), '127.0.0.1');
    upstream.on('error', () => client.destroy());
    this.sockets.add(upstream);
    upstream.on('close', () => this.sockets.delete(upstream));
    client.pipe(upstream);
    // Counted per response (connections are kept alive and carry several).
    let sent = 0;
    let armed = false;
    upstream.on('data', (chunk: Buffer) => {
      if (!armed && chunk.subarray(0, 7).toString('latin1') === 'HTTP/1.') {
        sent = 0;
        const length = /content-length: (\d+)/i.exec(chunk.toString('latin1'))?.[1];
        const faulty = this.fault.endsWith('-response') && this.remaining > 0;
        if (faulty && length !== undefined && Number(length) >= this.minResponse && Number(length) >= this.afterBytes) {
          armed = true;
          this.remaining -= 1;
          this.faulted += 1;
        }
      }
      if (armed && this.fault === 'trickle-response') {
        upstream.pause();
        let at = 0;
        const drip = setInterval(() => {
          client.write(chunk.subarray(at, at + 16));
          at += 16;
          if (at < chunk.length) return;
          clearInterval(drip);
          upstream.resume();
        }, 200);
        client.once('close', () => clearInterval(drip));
        return;
      }
      if (armed && sent + chunk.length > this.afterBytes) {
        client.write(chunk.subarray(0, Math.max(0, this.afterBytes - sent)));
        sent = this.afterBytes;
        upstream.unpipe();
        upstream.pause();
        if (this.fault === 'reset-response') {
          client.resetAndDestroy();
          upstream.destroy();
        }
        // stall: both stay open and silent until the client gives up.
        return;
      }
      sent += chunk.length;
      client.write(chunk);
    });
    upstream.on('end', () => client.end());
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * An HTTP proxy in front of s3rver that adds what s3rver lacks: AWS's conditional writes. A PUT with
 * If-None-Match: * fails with 412 when the object exists, one with If-Match when its ETag differs;
 * writes to one object pass one at a time, so that a check and its write are one step, as on S3.
 */
export class ConditionalWrites {
  private readonly server = createServer((request, response) => void this.handle(request, response));
  private readonly writes = new Map<string, Promise<void>>();
  port = 0;
  refused = 0;

  constructor(private readonly s3: S3TestServer) {}

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const forward = () =>
      new Promise<void>((resolve) => {
        const upstream = httpRequest(
          { host: '127.0.0.1', port: this.s3.port, method: request.method, path: request.url, headers: request.headers },
          (answer) => {
            response.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(response);
            answer.on('end', resolve);
          },
        );
        upstream.on('error', () => {
          response.destroy();
          resolve();
        });
        upstream.end(body);
      });
    if (request.method !== 'PUT') return forward();
    // Path style: /BUCKET/OBJECT.
    const object = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname.split('/').slice(2).join('/'));
    const previous = this.writes.get(object) ?? Promise.resolve();
    const turn = previous.then(async () => {
      const current = await this.s3.client
        .send(new HeadObjectCommand({ Bucket: BUCKET, Key: object }))
        .then((out) => out.ETag)
        .catch(() => undefined);
      const noneMatch = request.headers['if-none-match'];
      const match = request.headers['if-match'];
      if ((noneMatch === '*' && current !== undefined) || (match !== undefined && match !== current)) {
        this.refused += 1;
        response.writeHead(412, { 'content-type': 'application/xml' });
        response.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>',
        );
        return;
      }
      await forward();
    });
    this.writes.set(object, turn);
    await turn;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
