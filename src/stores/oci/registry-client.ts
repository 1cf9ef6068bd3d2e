import type { IncomingMessage } from 'node:http';
import { describeCause, TerrariumError } from '../../errors.js';
import { printable } from '../lease.js';
import { MAX_LISTED, type RequestSettings } from '../store.js';
import { type Challenge, parseChallenge, scopesFor } from './challenge.js';
import { type CredentialSources, type Credentials, findCredentials } from './credentials.js';
import type { OciReference } from './reference.js';
import { type Answer, type Exchange, readBody, Transport } from './transport.js';

/** What a request needs of the repository: registries grant tokens per action. */
export type Action = 'pull' | 'push' | 'delete';
const ACTIONS: Record<Action, string> = { pull: 'pull', push: 'pull,push', delete: 'delete' };
/** How messages say an action. */
const VERBS: Record<Action, string> = { pull: 'pull from', push: 'push to', delete: 'delete from' };

const MAX_TOKEN_BYTES = 64 << 10;
const MAX_ERROR_BYTES = 16 << 10;
const TAG_PAGE = 1000;
/** Tokens without `expires_in` last 60 s (distribution-spec's token auth); one is renewed this long before it ends. */
const TOKEN_MARGIN_MS = 10_000;

export interface Token {
  value: string;
  expires: number;
}

export interface ClientRequest extends Omit<Exchange, 'url'> {
  /** A path under the repository (`blobs/…`, `manifests/…`), or an absolute URL the registry gave (an upload's Location). */
  path: string | URL;
  action: Action;
}

/**
 * The registry's API for one repository (distribution-spec 1.1), signed in as container tools do: the
 * first request goes without credentials, the `WWW-Authenticate` answer says how (basic, or a bearer
 * token from the realm it names, for the scope of the action: pull-only for readers), and tokens are
 * kept per action until they expire. Credentials are found once, when first asked for.
 */
export class RegistryClient {
  readonly base: URL;
  private readonly transport: Transport;
  private credentials: Promise<Credentials | undefined> | undefined;
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<Action, Token>();

  constructor(
    readonly reference: OciReference,
    private readonly requests: RequestSettings,
    private readonly sources: CredentialSources,
    onRetry?: (why: string, waitMs: number) => void,
  ) {
    this.base = new URL(`${reference.plainHttp ? 'http' : 'https'}://${reference.endpoint}/v2/${reference.repository}/`);
    this.transport = new Transport(requests, onRetry);
  }

  /** The repository as messages name it. */
  get name(): string {
    return `${this.reference.registry}/${this.reference.repository}`;
  }

  private scope(action: Action): string {
    return `repository:${this.reference.repository}:${ACTIONS[action]}`;
  }

  private found(): Promise<Credentials | undefined> {
    this.credentials ??= findCredentials(this.reference.registry, this.sources);
    return this.credentials;
  }

  /** A request; a challenge is answered once (then its failure is said as denied or unauthenticated). */
  async request(request: ClientRequest): Promise<Answer> {
    const url = request.path instanceof URL ? request.path : new URL(request.path, this.base);
    for (let attempt = 0; ; attempt++) {
      const answer = await this.transport
        .exchange({ ...request, url }, async (hop) => (hop.origin === this.base.origin ? this.authorization(request.action) : undefined))
        .catch((error: unknown) => {
          if (error instanceof TerrariumError || request.signal?.aborted) throw error;
          throw new TerrariumError('STORAGE_UNREACHABLE', `cannot reach the registry ${this.reference.registry} (${this.name}): ${describeCause(error)}`, {
            hint: 'check --oci-repository and the network (--oci-insecure for a registry without TLS)',
            cause: error,
          });
        });
      if (answer.status !== 401 || attempt > 0) {
        if (answer.status === 401 || answer.status === 403) throw await this.refused(answer, request.action);
        return answer;
      }
      answer.body.resume();
      const challenge = parseChallenge(answer.headers['www-authenticate'] as string | undefined);
      if (!challenge) throw await this.refused(answer, request.action);
      this.challenge = challenge;
      this.tokens.delete(request.action);
      if (challenge.scheme === 'bearer') await this.fetchToken(request.action, challenge);
      else if (!(await this.found())) throw await this.refused(answer, request.action);
    }
  }

  private async authorization(action: Action): Promise<string | undefined> {
    if (this.challenge?.scheme === 'basic') {
      const credentials = await this.found();
      return credentials && `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    }
    if (this.challenge?.scheme !== 'bearer') return undefined;
    let token = this.tokens.get(action);
    if (!token || token.expires <= Date.now()) token = await this.fetchToken(action, this.challenge);
    return `Bearer ${token.value}`;
  }

  /** A token for `action` from the challenge's realm, with the credentials if any (sent only to an HTTPS or loopback realm). */
  private async fetchToken(action: Action, challenge: Extract<Challenge, { scheme: 'bearer' }>): Promise<Token> {
    const realm = new URL(challenge.realm);
    if (challenge.service) realm.searchParams.set('service', challenge.service);
    for (const scope of scopesFor(this.scope(action), action === 'pull' ? undefined : challenge.scope)) realm.searchParams.append('scope', scope);
    const credentials = await this.found();
    const safe = realm.protocol === 'https:' || /^(localhost|127(?:\.\d+){3}|\[::1\])$/.test(realm.hostname);
    const basic = credentials && safe ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` : undefined;
    const answer = await this.transport
      .exchange({ method: 'GET', url: realm }, async (hop) => (hop.origin === realm.origin ? basic : undefined))
      .catch((error: unknown) => {
        throw new TerrariumError('STORAGE_UNREACHABLE', `cannot reach the token service ${realm.host} of ${this.name}: ${describeCause(error)}`, {
          hint: 'check the network; the registry names this service in its WWW-Authenticate answer',
          cause: error,
        });
      });
    const text = answer.status === 200 ? await readBody(answer.body, MAX_TOKEN_BYTES, this.requests.timeoutSeconds * 1000) : undefined;
    if (answer.status !== 200) answer.body.resume();
    if (answer.status === 401 || answer.status === 403) throw await this.refused(undefined, action, credentials, true);
    const parsed = text && parseToken(text.toString('utf8'));
    if (!parsed) {
      throw new TerrariumError('STORAGE_AUTH', `the token service ${realm.host} of ${this.name} gave no token (HTTP ${answer.status})`, {
        hint: 'check the registry; a token answer is JSON with token or access_token',
      });
    }
    this.tokens.set(action, parsed);
    return parsed;
  }

  /** Why the registry said no, in its words (error codes, made printable) and ours: denied (credentials that may not) or unauthenticated (none given). */
  private async refused(answer: Answer | undefined, action: Action, known?: Credentials, tokenRefused = false): Promise<TerrariumError> {
    const credentials = known ?? (await this.found());
    const said = answer ? await registryErrors(answer.body, this.requests.timeoutSeconds) : '';
    const scope = this.scope(action);
    if (!credentials) {
      return new TerrariumError('STORAGE_AUTH', `the registry asks for credentials to ${VERBS[action]} ${this.name} (scope ${scope})${said}`, {
        hint: `set TERRARIUM_OCI_USERNAME and TERRARIUM_OCI_PASSWORD, or log in with docker login ${this.reference.registry}`,
      });
    }
    // A bearer token that lacks the scope is answered 401 too: that is a denial, not a bad password.
    if (tokenRefused || (answer?.status === 401 && this.challenge?.scheme === 'basic')) {
      return new TerrariumError('STORAGE_AUTH', `the registry refused the credentials from ${credentials.source} for ${this.name} (scope ${scope})${said}`, {
        hint: 'check the user name and the password or token (an expired token is refused too)',
      });
    }
    return new TerrariumError(
      'STORAGE_AUTH',
      `denied: ${this.name} does not let the credentials from ${credentials.source} ${action} (scope ${scope})${said}`,
      {
        hint:
          action === 'pull'
            ? 'check the user name and password or token, and that it may read the repository'
            : 'check that the token may write to the repository (packages: write on ghcr.io), or pass --no-upload',
      },
    );
  }

  /** Fails with the registry's own error for an answer no caller expected. */
  async unexpected(answer: Answer, what: string, hint?: string): Promise<TerrariumError> {
    const said = await registryErrors(answer.body, this.requests.timeoutSeconds);
    return new TerrariumError('STORAGE_UNREACHABLE', `${what} at ${this.name} failed: HTTP ${answer.status}${said}`, {
      hint: hint ?? 'check the registry and --oci-repository; the request is retried on 5xx and 429 (--s3-max-retries)',
    });
  }

  /** Every tag of the repository, a page at a time (`n`, then the `Link` header's next page), at most MAX_LISTED. */
  async *tags(signal?: AbortSignal): AsyncGenerator<string[]> {
    let next: URL | undefined = new URL(`tags/list?n=${TAG_PAGE}`, this.base);
    let seen = 0;
    while (next && seen < MAX_LISTED) {
      const answer = await this.request({ method: 'GET', path: next, action: 'pull', signal });
      if (answer.status === 404) return void answer.body.resume();
      if (answer.status !== 200) throw await this.unexpected(answer, 'listing tags');
      const link = answer.headers.link;
      const text = await readBody(answer.body, 4 << 20, this.requests.timeoutSeconds * 1000);
      const tags = text && parseTags(text.toString('utf8'));
      if (!tags) throw await this.unexpected(answer, 'listing tags (an answer that is no tag list)');
      seen += tags.length;
      yield tags;
      const target = typeof link === 'string' ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)?.[1] : undefined;
      next = target && URL.canParse(target, this.base) ? new URL(target, this.base) : undefined;
      if (next && next.origin !== this.base.origin) next = undefined;
    }
  }
}

/** A token answer's token and when to renew it (before `expires_in`, 60 s when absent, is over); undefined for anything else. */
export function parseToken(text: string, now = Date.now()): Token | undefined {
  try {
    const value = JSON.parse(text) as { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    const token = typeof value.token === 'string' && value.token ? value.token : value.access_token;
    if (typeof token !== 'string' || !token || token.length > MAX_TOKEN_BYTES) return undefined;
    const lifetime = typeof value.expires_in === 'number' && value.expires_in > 0 ? value.expires_in * 1000 : 60_000;
    return { value: token, expires: now + Math.max(lifetime - TOKEN_MARGIN_MS, lifetime / 2) };
  } catch {
    return undefined;
  }
}

function parseTags(text: string): string[] | undefined {
  try {
    const value = JSON.parse(text) as { tags?: unknown };
    if (value.tags === null || value.tags === undefined) return [];
    return Array.isArray(value.tags) ? value.tags.filter((tag): tag is string => typeof tag === 'string') : undefined;
  } catch {
    return undefined;
  }
}

/** The registry's error codes and messages (distribution-spec's `errors`), printable, after ": "; empty when none. */
async function registryErrors(body: IncomingMessage, timeoutSeconds: number): Promise<string> {
  const text = await readBody(body, MAX_ERROR_BYTES, timeoutSeconds * 1000).catch(() => undefined);
  try {
    const errors = (JSON.parse(text?.toString('utf8') ?? '') as { errors?: Array<{ code?: unknown; message?: unknown }> }).errors ?? [];
    const said = errors
      .slice(0, 3)
      .map((e) => [e.code, e.message].filter((part) => typeof part === 'string').join(' '))
      .filter(Boolean);
    return said.length ? `: ${printable(said.join('; '))}` : '';
  } catch {
    return '';
  }
}
