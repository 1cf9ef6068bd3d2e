import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { TerrariumError } from '../../errors.js';

/** A user name and password (or token) for a registry, and where they came from (for messages: never the secret). */
export interface Credentials {
  username: string;
  password: string;
  source: string;
}

/** Where credentials may be found, as container tools look: the environment first, then the Docker configuration. */
export interface CredentialSources {
  username: string | undefined;
  password: string | undefined;
  /** The folder of Docker's config.json ($DOCKER_CONFIG, else ~/.docker). */
  dockerConfig: string | undefined;
  /** What a credential helper runs with (it may need AWS_* or a keyring's variables). */
  env: NodeJS.ProcessEnv;
}

const MAX_CONFIG_BYTES = 1 << 20;
const HELPER_TIMEOUT_MS = 30_000;
const MAX_HELPER_OUTPUT = 64 << 10;

/** Docker Hub's credentials are filed under its old index URL. */
const CONFIG_NAMES = (registry: string) =>
  registry === 'docker.io'
    ? ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io']
    : [registry, `https://${registry}`, `http://${registry}`];

/**
 * The credentials for `registry`, or undefined (anonymous): TERRARIUM_OCI_USERNAME/PASSWORD, else the
 * Docker configuration's `credHelpers` entry for the registry, its `auths` entry, its `credsStore`.
 */
export async function findCredentials(registry: string, sources: CredentialSources): Promise<Credentials | undefined> {
  if (sources.username !== undefined && sources.password !== undefined) {
    return { username: sources.username, password: sources.password, source: 'TERRARIUM_OCI_USERNAME and TERRARIUM_OCI_PASSWORD' };
  }
  if (!sources.dockerConfig) return undefined;
  const file = path.join(sources.dockerConfig, 'config.json');
  const config = readDockerConfig(file);
  if (!config) return undefined;
  const names = CONFIG_NAMES(registry);
  const helper = names.map((name) => config.credHelpers?.[name]).find((h) => typeof h === 'string');
  if (helper) return runHelper(helper, names[0]!, sources.env);
  for (const name of names) {
    const entry = config.auths?.[name];
    const found = entry && fromAuthEntry(entry, `${file} (auths)`);
    if (found) return found;
  }
  return typeof config.credsStore === 'string' && config.credsStore ? runHelper(config.credsStore, names[0]!, sources.env) : undefined;
}

interface DockerConfig {
  auths?: Record<string, { auth?: unknown; username?: unknown; password?: unknown }>;
  credHelpers?: Record<string, unknown>;
  credsStore?: unknown;
}

function readDockerConfig(file: string): DockerConfig | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  if (text.length > MAX_CONFIG_BYTES) return undefined;
  try {
    const value = JSON.parse(text) as DockerConfig;
    return typeof value === 'object' && value !== null ? value : undefined;
  } catch {
    throw new TerrariumError('STORAGE_AUTH', `cannot read ${file}: it is not JSON`, { hint: 'fix or remove the Docker configuration, or set DOCKER_CONFIG' });
  }
}

function fromAuthEntry(entry: { auth?: unknown; username?: unknown; password?: unknown }, source: string): Credentials | undefined {
  if (typeof entry.username === 'string' && typeof entry.password === 'string') return { username: entry.username, password: entry.password, source };
  if (typeof entry.auth !== 'string' || !entry.auth) return undefined;
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon > 0 ? { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), source } : undefined;
}

/** Asks `docker-credential-NAME get` (the protocol of docker-credential-helpers): the server on stdin, JSON on stdout. */
async function runHelper(name: string, server: string, env: NodeJS.ProcessEnv): Promise<Credentials | undefined> {
  const program = `docker-credential-${name}`;
  const source = `${program} (Docker configuration)`;
  if (!/^[A-Za-z0-9._-]+$/.test(name))
    throw new TerrariumError('STORAGE_AUTH', `bad credential helper name "${name}" in the Docker configuration`, {
      hint: 'fix credHelpers or credsStore in config.json',
    });
  const output = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const child = spawn(program, ['get'], { env, stdio: ['pipe', 'pipe', 'ignore'], timeout: HELPER_TIMEOUT_MS });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (stdout.length > MAX_HELPER_OUTPUT) child.kill();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
    child.stdin.end(server);
  }).catch((error: NodeJS.ErrnoException) => {
    throw new TerrariumError('STORAGE_AUTH', `cannot run ${program}: ${error.code === 'ENOENT' ? 'not found on PATH' : error.message}`, {
      hint: 'install the credential helper the Docker configuration names, or set TERRARIUM_OCI_USERNAME and TERRARIUM_OCI_PASSWORD',
    });
  });
  // Helpers say "credentials not found in native keychain" and exit 1 when they hold none for the server.
  if (output.code !== 0) return undefined;
  try {
    const answer = JSON.parse(output.stdout) as { Username?: unknown; Secret?: unknown };
    if (typeof answer.Username === 'string' && typeof answer.Secret === 'string' && answer.Secret)
      return { username: answer.Username, password: answer.Secret, source };
  } catch {
    // Not an answer: as good as none.
  }
  return undefined;
}
