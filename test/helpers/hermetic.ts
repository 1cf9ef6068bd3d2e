import path from 'node:path';

/** The command as installed by npm: the bin script, which loads the bundle in dist. */
export const BIN = path.resolve('bin/terrarium.cjs');

/**
 * The environment a user's shell would have, minus this machine's pip configuration and local indexes:
 * pip sees only the wheels the tests built.
 */
export function hermeticEnv(wheels: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    // Whatever the caller's shell holds (a cache elsewhere, credentials, a store) must not reach the tests.
    if (/^(PIP_|PYTHON|VIRTUAL_ENV|TERRARIUM_|XDG_|S3_|AWS_|DOCKER_|VITEST|NODE_OPTIONS)/.test(name)) continue;
    // Every server a test talks to is on loopback over plain HTTP; a CA bundle to add would only make
    // each Node started here parse it first (90 ms of every terrarium run on these machines).
    if (name === 'NODE_EXTRA_CA_CERTS') continue;
    env[name] = value;
  }
  return { ...env, PIP_CONFIG_FILE: '/dev/null', PIP_NO_INDEX: '1', PIP_FIND_LINKS: wheels, ...extra };
}
