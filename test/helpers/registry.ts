import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { closedPort } from './cli.js';

/** The user the tests' registries know, and a password long enough to be masked wherever it could appear. */
export const REGISTRY_USER = 'ci-user';
export const REGISTRY_PASSWORD = 'registry-password-9d1f';

/** What the token server was asked: the scopes, and whether credentials came with the request. */
export interface TokenRequest {
  scopes: string[];
  user: string | undefined;
}

/**
 * A real OCI registry on 127.0.0.1 (Debian's docker-registry: CNCF distribution), deletes enabled, with
 * htpasswd (basic) authentication or token authentication by a token server of the tests' own, which
 * signs ES256 JWTs with a certificate the registry is told to trust. Token policy: REGISTRY_USER may do
 * anything; anonymous callers may pull repositories under `public/`.
 */
export class RegistryServer {
  private readonly dir = mkdtempSync(path.join(tmpdir(), 'terrarium-registry-'));
  private child: ChildProcess | undefined;
  private tokenServer: http.Server | undefined;
  readonly tokenRequests: TokenRequest[] = [];
  /** Lifetime of the tokens given, in seconds. */
  tokenLifetime = 300;
  port = 0;

  /** `login`: the user and password it knows (GitLab's job token: gitlab-ci-token and CI_JOB_TOKEN). */
  constructor(
    readonly auth: 'basic' | 'token',
    private readonly login = { user: REGISTRY_USER, password: REGISTRY_PASSWORD },
  ) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.port = await closedPort();
    const auth = this.auth === 'basic' ? this.basicAuth() : await this.tokenAuth();
    const config = [
      'version: 0.1',
      'log: {level: error, accesslog: {disabled: true}}',
      `storage: {filesystem: {rootdirectory: ${path.join(this.dir, 'data')}}, delete: {enabled: true}}`,
      `http: {addr: ${this.host}}`,
      auth,
    ].join('\n');
    writeFileSync(path.join(this.dir, 'config.yml'), `${config}\n`);
    this.child = spawn('docker-registry', ['serve', path.join(this.dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    this.child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    for (let tries = 0; ; tries++) {
      const up = await fetch(`http://${this.host}/v2/`).then(
        (response) => response.status === 401 || response.ok,
        () => false,
      );
      if (up) return;
      if (this.child.exitCode !== null || tries > 200) throw new Error(`the registry did not start: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  private basicAuth(): string {
    const file = path.join(this.dir, 'htpasswd');
    writeFileSync(file, execFileSync('htpasswd', ['-Bbn', this.login.user, this.login.password]));
    return `auth: {htpasswd: {realm: terrarium-test, path: ${file}}}`;
  }

  private async tokenAuth(): Promise<string> {
    const keyFile = path.join(this.dir, 'token.key');
    const certFile = path.join(this.dir, 'token.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        '/CN=terrarium-test-token',
        '-days',
        '2',
        '-keyout',
        keyFile,
        '-out',
        certFile,
      ],
      { stdio: 'ignore' },
    );
    const key = createPrivateKey(readFileSync(keyFile));
    const der = readFileSync(certFile, 'utf8').replace(/-----[^-]+-----|\s/g, '');
    this.tokenServer = http.createServer((req, res) => {
      const url = new URL(req.url!, 'http://token');
      const scopes = url.searchParams.getAll('scope');
      const header = req.headers.authorization ?? '';
      const [user, password] = header.startsWith('Basic ') ? Buffer.from(header.slice(6), 'base64').toString().split(':') : [];
      this.tokenRequests.push({ scopes, user });
      if (user !== undefined && (user !== this.login.user || password !== this.login.password))
        return void res.writeHead(401).end('{"details":"bad credentials"}');
      const access = scopes.flatMap((scope) => {
        const [type, name, actions] = scope.split(':');
        if (type !== 'repository' || !name || !actions) return [];
        const granted = user ? actions.split(',') : name.startsWith('public/') ? actions.split(',').filter((a) => a === 'pull') : [];
        return [{ type, name, actions: granted }];
      });
      const now = Math.floor(Date.now() / 1000);
      const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const head = encode({ typ: 'JWT', alg: 'ES256', x5c: [der] });
      const claims = encode({
        iss: 'terrarium-test-issuer',
        sub: user ?? '',
        aud: 'terrarium-test',
        exp: now + this.tokenLifetime,
        nbf: now - 10,
        iat: now,
        jti: randomUUID(),
        access,
      });
      const signature = sign('sha256', Buffer.from(`${head}.${claims}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ token: `${head}.${claims}.${signature}`, expires_in: this.tokenLifetime }));
    });
    await new Promise<void>((resolve) => this.tokenServer!.listen(0, '127.0.0.1', resolve));
    const realm = `http://127.0.0.1:${(this.tokenServer.address() as AddressInfo).port}/token`;
    return `auth: {token: {realm: "${realm}", service: terrarium-test, issuer: terrarium-test-issuer, rootcertbundle: ${certFile}}}`;
  }

  /** skopeo's arguments for this registry: plain HTTP, the tests' credentials. */
  skopeoCredentials(direction: 'src' | 'dest' | undefined): string[] {
    const prefix = direction ? `--${direction}-` : '--';
    return [`${prefix}tls-verify=false`, `${prefix}creds`, `${REGISTRY_USER}:${REGISTRY_PASSWORD}`];
  }

  skopeo(args: string[]): string {
    return execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** A request to the registry with the tests' credentials (basic only). */
  async api(method: string, pathName: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<Response> {
    const authorization = `Basic ${Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64')}`;
    return fetch(`http://${this.host}/v2/${pathName}`, { method, body, headers: { authorization, ...headers } });
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child!.once('exit', resolve));
      this.child.kill();
      await exited;
    }
    await new Promise((resolve) => (this.tokenServer ? this.tokenServer.close(resolve) : resolve(undefined)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * An HTTP proxy in front of a registry that logs every request and can misbehave: answer 429 with a
 * Retry-After, cut a blob download part-way, or redirect blob reads to another origin (a "CDN" that
 * serves them and notes whether it was sent credentials).
 */
export class RegistryProxy {
  readonly log: Array<{ method: string; path: string; status: number }> = [];
  /** Requests whose path matches get this answer first, this many times. */
  tooMany: { match: RegExp; times: number; retryAfter: string } | undefined;
  /** Blob downloads whose path matches are cut after this many bytes, this many times. */
  cut: { match: RegExp; times: number; afterBytes: number } | undefined;
  /** Blob GETs are redirected to the CDN. */
  redirectBlobs = false;
  /** Authorization headers the CDN received. */
  readonly cdnAuthorizations: string[] = [];
  cdnRequests = 0;
  private readonly server = http.createServer((req, res) => this.handle(req, res));
  private readonly cdn = http.createServer((req, res) => {
    this.cdnRequests += 1;
    if (req.headers.authorization) this.cdnAuthorizations.push(req.headers.authorization);
    this.forward(req, res, { authorization: `Basic ${Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64')}` });
  });
  port = 0;
  private cdnPort = 0;

  constructor(private readonly registry: RegistryServer) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => this.cdn.listen(0, 'localhost', resolve));
    this.cdnPort = (this.cdn.address() as AddressInfo).port;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const entry = { method: req.method!, path: req.url!, status: 0 };
    this.log.push(entry);
    // The status as sent: a client may close the connection before the body's end.
    const writeHead = res.writeHead.bind(res);
    res.writeHead = ((status: number, ...rest: never[]) => {
      entry.status = status;
      return writeHead(status, ...rest);
    }) as typeof res.writeHead;
    if (this.tooMany && this.tooMany.times > 0 && this.tooMany.match.test(req.url!)) {
      this.tooMany.times -= 1;
      req.resume();
      return void res.writeHead(429, { 'retry-after': this.tooMany.retryAfter }).end();
    }
    if (this.redirectBlobs && req.method === 'GET' && /\/blobs\/sha256:/.test(req.url!)) {
      req.resume();
      return void res.writeHead(307, { location: `http://localhost:${this.cdnPort}${req.url}` }).end();
    }
    this.forward(req, res, {});
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse, headers: Record<string, string>): void {
    // Only a body longer than afterBytes is cut (and counted): small blobs, the records, pass.
    const cut = this.cut && req.method === 'GET' && this.cut.match.test(req.url!) && !req.headers.range ? this.cut : undefined;
    const upstream = http.request(
      { host: '127.0.0.1', port: this.registry.port, method: req.method, path: req.url, headers: { ...req.headers, ...headers, host: this.registry.host } },
      (answer) => {
        const location = answer.headers.location?.replace(`//${this.registry.host}/`, `//${this.host}/`);
        res.writeHead(answer.statusCode!, { ...answer.headers, ...(location ? { location } : {}) });
        const length = Number(answer.headers['content-length']);
        if (!cut || cut.times <= 0 || !(length > cut.afterBytes)) return void answer.pipe(res);
        cut.times -= 1;
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          const room = cut.afterBytes - sent;
          if (room <= 0) return;
          res.write(chunk.subarray(0, room));
          sent += Math.min(room, chunk.length);
          if (sent >= cut.afterBytes) {
            answer.destroy();
            res.socket?.destroy();
          }
        });
      },
    );
    upstream.on('error', () => res.socket?.destroy());
    req.pipe(upstream);
  }

  /** The requests made since `from` (an index into the log). */
  since(from: number): Array<{ method: string; path: string; status: number }> {
    return this.log.slice(from);
  }

  async stop(): Promise<void> {
    for (const server of [this.server, this.cdn]) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }
}
