import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, Sandbox } from '../helpers/cli.js';
import { ARCH } from '../helpers/python.js';

const has = (program: string) => spawnSync('sh', ['-c', `command -v ${program}`]).status === 0;

describe('inspect, completion, help', () => {
  const box = new Sandbox();
  const store = (...args: string[]) => ['--storage-dir', box.store, '--no-cache', ...args];
  let key: string;
  let archive: string;

  beforeAll(async () => {
    box.write('requirements.txt', 'terra-demo  # the app\n');
    key = await box.seed('demo', box.store, 1);
    // The comment changes nothing: the key is the one of the bare line.
    expect((await box.main(['key', 'requirements.txt'])).stdout.trim()).toBe(key);
    archive = path.join(box.store, readdirSync(box.store).find((name) => name.endsWith('.tar.zst'))!);
  });
  afterAll(() => box.cleanup());

  it('stops quietly with 141 when the reader of its output has gone (terrarium help | head)', async () => {
    // The reading end is closed before the child writes anything: every write meets EPIPE.
    const child = spawn(process.execPath, [BIN, 'help', 'install'], { cwd: box.dir, env: box.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(141);
  });

  it('inspect KEY: interpreter, requirements, installed packages and sizes, without installing', async () => {
    const result = await box.main(store('--json', 'inspect', key));
    expect(result.code, result.stderr).toBe(0);
    const doc = JSON.parse(result.stdout);
    expect(doc).toMatchObject({ key, archive: { where: box.store, codec: 'zstd' }, requirements: ['terra-demo'], python: { implementation: 'cpython' } });
    expect(doc.packages).toEqual(expect.arrayContaining(['terra-demo==1.0', 'terra-dep==1.0']));
    expect(doc.packages.some((p: string) => p.startsWith('pip=='))).toBe(true);
    expect(doc.files).toBeGreaterThan(100);
    // Built beside its first target, in a hidden staging directory.
    expect(path.basename(doc.builtAt)).toMatch(/^\.env-demo-1\.staging-/);
    const plain = await box.main(store('inspect', key));
    expect(plain.stdout).toMatch(/^packages +\(\d+, as pip freeze --all lists them\)\n(?:.*\n)* {2}terra-demo==1\.0$/m);
  });

  it('inspect ARCHIVE reads a file directly; a damaged or unknown one is an error with its exit code', async () => {
    const direct = await box.main(['--json', 'inspect', archive]);
    expect(JSON.parse(direct.stdout).key).toBe(key);
    const bytes = readFileSync(archive);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    writeFileSync(box.path('damaged.tar.zst'), bytes);
    expect((await box.main(['inspect', 'damaged.tar.zst'])).code).toBe(6);
    writeFileSync(box.path('notes.txt'), 'hello');
    const unknown = await box.main(['inspect', 'notes.txt']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('cannot tell how notes.txt is compressed');
    const missing = await box.main(store('inspect', `${ARCH}-3.11-00000000000000000000000000000000`));
    expect(missing.code).toBe(10);
    expect(missing.stderr).toContain('terrarium ls');
  });

  it.skipIf(!has('bash'))('bash completion completes commands, options and option values', async () => {
    const script = box.write('terrarium.bash', (await box.main(['completion', 'bash'])).stdout);
    const complete = (line: string) => {
      const words = line.split(' ');
      const program = `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _terrarium; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return spawnSync('bash', ['-c', program], { encoding: 'utf8' }).stdout.trim().split('\n');
    };
    expect(complete('terrarium ins').sort()).toEqual(['inspect', 'install']);
    expect(complete('terrarium --storage')).toEqual(['--storage-dir', '--storage-url']);
    expect(complete('terrarium --compression ')).toEqual(['zstd', 'gzip', 'none']);
    expect(complete('terrarium --link-mode h')).toEqual(['hardlink']);
  });

  it.skipIf(!has('fish'))('fish completion completes commands and options', async () => {
    const script = box.write('terrarium.fish', (await box.main(['completion', 'fish'])).stdout);
    const complete = (line: string) => spawnSync('fish', ['-c', `source ${script}; complete -C '${line}'`], { encoding: 'utf8' }).stdout;
    expect(complete('terrarium ins')).toMatch(/^inspect\t.*\ninstall\t/m);
    expect(complete('terrarium --compr')).toMatch(/^--compression\t/m);
  });

  it.skipIf(!has('zsh'))('the zsh completion script is valid zsh', async () => {
    const script = box.write('_terrarium', (await box.main(['completion', 'zsh'])).stdout);
    const check = spawnSync('zsh', ['-n', script], { encoding: 'utf8' });
    expect(check.status, check.stderr).toBe(0);
    expect(readFileSync(script, 'utf8')).toContain("--link-mode'[");
  });

  it('help shows examples, and every option with its environment variable and default', async () => {
    const help = await box.main(['help', 'install']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: terrarium install /);
    expect(help.stdout).toContain('Examples:\n  $ terrarium -t .venv --storage-dir /mnt/envs install requirements.txt');
    // The global options install reads, under --help's headings; another command's, only its own.
    for (const group of ['Install options:', 'Storage options:', 'S3 options:', 'Signing options:', 'Output options:']) expect(help.stdout).toContain(group);
    expect(help.stdout).toMatch(/--storage-dir <dir>[\s\S]*?\(env:\s+TERRARIUM_STORAGE_DIR\)/);
    const revert = await box.main(['help', 'revert']);
    expect(revert.stdout).toMatch(/--target <dir>[\s\S]*--lock-timeout <seconds>[\s\S]*--json/);
    for (const other of ['--storage-dir', '--python', 'Storage options:']) expect(revert.stdout).not.toContain(other);
    const hash = await box.main(['help', 'hash']);
    expect(hash.stdout).toContain('--digest-type');
    expect(hash.stdout).not.toContain('--target');
    const top = await box.main(['--help']);
    // Help text wraps to the terminal: any run of white space may separate the words.
    expect(top.stdout).toMatch(/--storage-dir <dir>[\s\S]*?\(env:\s+TERRARIUM_STORAGE_DIR\)/);
    expect(top.stdout).toMatch(/--lock-timeout <seconds>[\s\S]*?\(env:\s+TERRARIUM_LOCK_TIMEOUT\)\s+\(default:\s+600\)/);
    for (const group of ['Install options:', 'Storage options:', 'S3 options:', 'Cache options:', 'Output options:']) expect(top.stdout).toContain(group);
    for (const command of ['install', 'key', 'hash', 'exists', 'revert', 'doctor', 'config', 'inspect', 'completion', 'ls', 'prune'])
      expect(top.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    expect(top.stdout).toContain('Exit codes:');
  });

  it('--help and help install: as snapshotted, and every line within 80 columns', async () => {
    for (const args of [['--help'], ['help', 'install']]) {
      const { stdout } = await box.main(args);
      expect(stdout).toMatchSnapshot(args.join(' '));
      // Only a single unbreakable word (the default key format) may run past the edge.
      const wide = stdout.split('\n').filter((line) => line.length > 80 && /\S\s+\S/.test(line.trim()));
      expect(wide, args.join(' ')).toEqual([]);
    }
  });

  it.each([
    [['instal', 'requirements.txt'], "terrarium: error: unknown command 'instal' (did you mean install?)"],
    [['--storge-dir', 'x', 'key', 'requirements.txt'], "terrarium: error: unknown option '--storge-dir' (did you mean --storage-dir?)"],
    [['help', 'instal'], "terrarium: error: unknown command 'instal' (did you mean install?)"],
    [['help', 'nosuch'], "terrarium: error: unknown command 'nosuch'"],
  ])('a typo is an error line like any other, with a suggestion, and exit 2: %j', async (args, message) => {
    const result = await box.main(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`${message}\nterrarium: hint: run terrarium --help for usage\n`);
    const json = await box.main(['--json', ...args]);
    expect(JSON.parse(json.stdout)).toEqual({
      ok: false,
      error: { code: 'USAGE', message: message.replace('terrarium: error: ', ''), hint: expect.any(String), exitCode: 2 },
      warnings: [],
    });
  });

  it.each([[[]], [['-V']], [['cache']]])('without a command, prints the short usage on stderr and exits 2: %j', async (args) => {
    const result = await box.main(args);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(/^usage: terrarium \[options\] COMMAND/);
    expect(result.stderr.split('\n').length).toBeLessThan(6);
  });
});
