import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BIN, Sandbox } from '../helpers/cli.js';
import { RegistryServer } from '../helpers/registry.js';

const TEMPLATE = path.resolve(import.meta.dirname, '..', '..', 'templates', 'terrarium.gitlab-ci.yml');

interface TemplateJob {
  variables: Record<string, string>;
  cache: { key: string; fallback_keys: string[]; paths: string[] };
  before_script: string[];
}

/** The GitLab CI template, parsed, its variables expanded and its script lines run in one shell as a runner does, against a real registry and a storage directory. */
describe('the GitLab CI template', () => {
  const box = new Sandbox();
  const token = 'glcbt-job-token-never-in-the-log';
  const registry = new RegistryServer('basic', { user: 'gitlab-ci-token', password: token });
  const job = (parse(readFileSync(TEMPLATE, 'utf8')) as Record<string, TemplateJob>)['.terrarium']!;
  const tools = box.path('tools');

  /** One job: predefined variables, then the template's (expanded as GitLab does, `$NAME` from those before), then the project's. */
  const runJob = async (name: string, project: Record<string, string> = {}) => {
    const dir = box.path(name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'requirements.txt'), 'terra-dep\n');
    const variables: Record<string, string> = {
      CI_PROJECT_DIR: dir,
      CI_JOB_TOKEN: token,
      CI_REGISTRY_IMAGE: `${registry.host}/group/project`,
      CI_COMMIT_REF_SLUG: 'feature',
      CI_DEFAULT_BRANCH: 'main',
    };
    const expand = (value: string) => value.replace(/\$\{?(\w+)\}?/g, (_, ref: string) => variables[ref] ?? '');
    for (const [key, value] of Object.entries(job.variables)) variables[key] = expand(String(value));
    Object.assign(variables, project);
    const script = ['set -eo pipefail', ...job.before_script, 'echo "venv=$VIRTUAL_ENV"', 'python -c "import terra_dep, sys; print(sys.prefix)"'].join('\n');
    const result = await box.exec('bash', ['-c', script], { ...variables, PATH: `${tools}:${box.env.PATH}` }, dir);
    return { ...result, dir, variables, cacheKey: expand(job.cache.key), fallback: job.cache.fallback_keys.map(expand) };
  };

  beforeAll(async () => {
    await registry.start();
    // The image's terrarium: the template installs one from npm only where none is on PATH.
    mkdirSync(tools);
    writeFileSync(path.join(tools, 'terrarium'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, { mode: 0o755 });
  });
  afterAll(async () => {
    await registry.stop();
    box.cleanup();
  });

  it("builds and pushes to the project's registry with the job token, keeps its cache where GitLab's cache keeps it; another job restores", async () => {
    const first = await runJob('job-1');
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stderr).toMatch(/built x86_64-3\.\d+-[0-9a-f]{32}, published to .*group\/project\/python-envs/);
    expect(first.stdout).toContain(`venv=${path.join(first.dir, '.venv')}`);
    expect(first.stdout).toContain(path.join(first.dir, '.venv'));
    // What terrarium caches is under the path the template's cache: keeps.
    expect(job.cache.paths).toEqual(['.cache/terrarium']);
    expect(readdirSync(path.join(first.dir, '.cache', 'terrarium')).length).toBeGreaterThan(0);
    expect([first.cacheKey, ...first.fallback]).toEqual(['terrarium-feature', 'terrarium-main']);
    expect(first.stdout + first.stderr).not.toContain(token);

    const second = await runJob('job-2');
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/restored x86_64-3\.\d+-[0-9a-f]{32} from .*group\/project\/python-envs/);
    expect(second.stdout + second.stderr).not.toContain(token);
  });

  it('with a storage directory instead (the registry turned off by an empty variable)', async () => {
    const store = box.path('shared-store');
    const run = await runJob('job-dir', { TERRARIUM_OCI_REPOSITORY: '', TERRARIUM_STORAGE_DIR: store });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`published to ${box.shown(store)}`);
    expect(existsSync(store)).toBe(true);
  });
});
