import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { longFlag, optionSpecs } from '../../src/cli/option-table.js';
import { run } from '../../src/io/exec.js';
import { BIN, Sandbox } from '../helpers/cli.js';

type Effective = { configFile: string | null; settings: Record<string, { value: unknown; source: string }> };

describe('configuration file (terrarium.toml, [tool.terrarium])', () => {
  const box = new Sandbox();
  afterAll(() => box.cleanup());
  const project = box.path('project');
  const nested = path.join(project, 'src', 'deep');
  const other = box.path('other');
  mkdirSync(nested, { recursive: true });
  mkdirSync(other, { recursive: true });
  const cli = (cwd: string, args: string[], env: NodeJS.ProcessEnv = {}) => run(process.execPath, [BIN, ...args], { cwd, env: { ...box.env, ...env } });
  const effective = async (cwd: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Effective> => {
    const result = await cli(cwd, [...args, '--json', 'config'], env);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Effective;
  };

  it('supplies defaults anywhere below it; the environment overrides it, the command line overrides both', async () => {
    const file = path.join(project, 'terrarium.toml');
    writeFileSync(file, 'storage-dir = "/srv/envs"\ncompression = "gzip"\nlock_timeout = 30\nupload = false\ns3-bucket = "team-envs"\n');
    const doc = await effective(nested, ['--storage-dir', box.path('cli-store')], { TERRARIUM_LOCK_TIMEOUT: '5' });
    expect(doc.configFile).toBe(file);
    expect(doc.settings['storage-dir']).toEqual({ value: box.path('cli-store'), source: 'command line' });
    expect(doc.settings['lock-timeout']).toEqual({ value: '5', source: 'environment TERRARIUM_LOCK_TIMEOUT' });
    expect(doc.settings.compression).toEqual({ value: 'gzip', source: file });
    expect(doc.settings.upload).toEqual({ value: false, source: file });
    expect(doc.settings['s3-bucket']).toEqual({ value: 'team-envs', source: file });
    expect(doc.settings.python).toEqual({ value: 'python3', source: 'default' });
    const plain = await cli(nested, ['config']);
    expect(plain.stderr).toContain(`defaults from ${box.shown(file)}`);
    expect(plain.stdout).toMatch(/^compression\s+"gzip"\s+.*terrarium\.toml$/m);
  });

  it("in process, reads the environment it is given, never the process's own", async () => {
    const saved = process.env.TERRARIUM_STORAGE_DIR;
    process.env.TERRARIUM_STORAGE_DIR = '/from/the/process';
    try {
      const given = await box.main(['--json', 'config'], { TERRARIUM_STORAGE_DIR: box.path('given') });
      expect(JSON.parse(given.stdout).settings['storage-dir']).toEqual({ value: box.path('given'), source: 'environment TERRARIUM_STORAGE_DIR' });
      const none = await box.main(['--json', 'config']);
      expect(JSON.parse(none.stdout).settings['storage-dir']).toEqual({ value: null, source: 'not set' });
    } finally {
      if (saved === undefined) delete process.env.TERRARIUM_STORAGE_DIR;
      else process.env.TERRARIUM_STORAGE_DIR = saved;
    }
  });

  it.each(optionSpecs().filter(([, spec]) => spec.env))('takes %s from its variable and says so', async (name, spec) => {
    const value =
      spec.kind === 'switch'
        ? '1'
        : spec.choices
          ? spec.choices[spec.choices.length - 1]!
          : spec.flags.includes('<size>')
            ? '5G'
            : /<(n|seconds)>/.test(spec.flags)
              ? '7'
              : box.path('from-env');
    const doc = JSON.parse((await box.main(['--json', 'config'], { [spec.env!]: value })).stdout) as Effective;
    const key = longFlag(name).slice('--'.length);
    expect(doc.settings[key], name).toEqual({ value: spec.secret ? '***' : spec.kind === 'switch' ? true : value, source: `environment ${spec.env}` });
  });

  it('reads a switch from its variable as shells and CI files write it', async () => {
    for (const [value, expected] of [
      ['yes', true],
      ['0', false],
      ['FALSE', false],
    ] as const) {
      const doc = JSON.parse((await box.main(['--json', 'config'], { TERRARIUM_PORTABLE: value })).stdout) as Effective;
      expect(doc.settings.portable?.value, value).toBe(expected);
    }
    const bad = await box.main(['config'], { TERRARIUM_PORTABLE: 'maybe' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('bad TERRARIUM_PORTABLE "maybe"');
  });

  it('names the variables it falls back to, the effective cache directory and where S3 credentials come from', async () => {
    const env = { S3_PATH_STYLE: '1', AWS_REGION: 'eu-west-3', TERRARIUM_TRUSTED_KEYS: 'RWQkey', AWS_PROFILE: 'ci' };
    const doc = JSON.parse((await box.main(['--json', 'config'], env)).stdout) as Effective;
    expect(doc.settings['s3-path-style']).toEqual({ value: '1', source: 'environment S3_PATH_STYLE' });
    expect(doc.settings['s3-region']).toEqual({ value: 'eu-west-3', source: 'environment AWS_REGION' });
    expect(doc.settings['trust-key']).toEqual({ value: 'RWQkey', source: 'environment TERRARIUM_TRUSTED_KEYS' });
    expect(doc.settings['cache-dir']).toEqual({ value: path.join(box.dir, '.cache', 'terrarium', 'v1'), source: 'default ($XDG_CACHE_HOME/terrarium/v1)' });
    expect(doc.settings['s3-credentials']).toEqual({ value: 'AWS credential chain', source: 'environment AWS_PROFILE' });
    const keys = JSON.parse((await box.main(['--json', 'config'], { S3_ACCESS_KEY: 'AKIAEXAMPLE', S3_SECRET_KEY: 'x'.repeat(40) })).stdout) as Effective;
    expect(keys.settings['s3-credentials']?.value).toBe('S3 access key');
    expect(keys.settings['s3-secret-key']).toEqual({ value: '***', source: 'environment S3_SECRET_KEY' });
  });

  it('runs with a bad setting: shows every setting, then names the problem (exit 2)', async () => {
    const plain = await box.main(['--lock-timeout', 'soon', 'config']);
    expect(plain.code).toBe(2);
    expect(plain.stdout).toMatch(/^lock-timeout\s+"soon"\s+command line$/m);
    expect(plain.stderr).toContain('terrarium: error: bad --lock-timeout "soon"');
    const json = await box.main(['--json', '--lock-timeout', 'soon', 'config']);
    expect(json.code).toBe(2);
    const doc = JSON.parse(json.stdout) as Effective & { error: { code: string; message: string } };
    expect(doc.settings['lock-timeout']).toEqual({ value: 'soon', source: 'command line' });
    expect(doc.error).toMatchObject({ code: 'USAGE', message: 'bad --lock-timeout "soon"' });
  });

  it("refuses a value outside an option's choices in the environment, naming the variable", async () => {
    const result = await box.main(['key', 'x.txt'], { TERRARIUM_LINK_MODE: 'symlink' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('bad TERRARIUM_LINK_MODE "symlink"');
  });

  it('is really used: a store named only in the file receives the archive', async () => {
    const store = box.path('file-store');
    writeFileSync(path.join(other, 'terrarium.toml'), `storage-dir = ${JSON.stringify(store)}\n`);
    writeFileSync(path.join(other, 'requirements.txt'), 'terra-dep\n');
    const result = await cli(other, ['-t', path.join(other, 'env'), 'install', 'requirements.txt']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`published to ${box.shown(store)}`);
  });

  it('reads [tool.terrarium] from pyproject.toml', async () => {
    const dir = box.path('pyproject');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'pyproject.toml'), '[project]\nname = "app"\n\n[tool.terrarium]\ndigest_type = "sha256"\ncache = false\n');
    const doc = await effective(dir);
    expect(doc.configFile).toBe(path.join(dir, 'pyproject.toml'));
    expect(doc.settings['digest-type']?.value).toBe('sha256');
    expect(doc.settings.cache?.value).toBe(false);
  });

  it('never prints a secret it holds', async () => {
    const dir = box.path('secret');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'terrarium.toml'), 's3-access-key = "AKIAIOSFODNN7EXAMPLE"\ns3-secret-key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n');
    for (const args of [['config'], ['--json', 'config'], ['-VV', 'config']]) {
      const result = await cli(dir, args);
      expect(result.stdout + result.stderr).not.toMatch(/AKIAIOSFODNN7EXAMPLE|wJalrXUtnFEMI/);
      expect(result.stdout).toContain('***');
    }
  });

  it.each([
    ['an unknown key, with a suggestion', 'storage-dri = "/x"\n', /line 1: unknown setting "storage-dri" \(did you mean "storage-dir"\?\)/],
    ['a wrong type', '# team defaults\nupload = "no"\n', /line 2: "upload" takes true or false/],
    ['a value outside the choices', 'compression = "lz4"\n', /line 1: "compression" must be one of zstd, gzip, none/],
    ['a run-only option', 'target = "/env"\n', /line 1: "target" describes one run and cannot be set in a file; pass --target instead/],
    ['a value its option refuses', 'storage-dir = "/x"\nlock_timeout = "abc"\n', /bad lock-timeout \(.*terrarium\.toml line 2\) "abc"/],
    ['broken TOML', 'storage-dir = \n', /terrarium\.toml: /],
  ])('refuses %s: exit 2, naming the file', async (_, text, message) => {
    const dir = box.path(`bad-${Math.random().toString(36).slice(2)}`);
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'terrarium.toml'), text);
    const result = await cli(dir, ['hash', 'x.txt']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    // In full, or under HOME as ~/…
    expect(result.stderr).toContain(path.join(path.basename(dir), 'terrarium.toml'));
  });
});
