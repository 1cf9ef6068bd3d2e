import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, Sandbox } from '../helpers/cli.js';
import { expectNoLeftovers, leftoversIn } from '../helpers/env-state.js';
import { python3 } from '../helpers/python.js';

describe('backups and revert', () => {
  const box = new Sandbox();
  const target = box.path('app');
  // The backup is a renamed (not relocated) environment: its scripts name TARGET, so ask its python.
  const packages = async (env: string) => (await box.exec(path.join(env, 'bin', 'python'), ['-m', 'pip', 'list', '--format=freeze'])).stdout;

  beforeAll(async () => {
    box.write('a.txt', 'terra-dep\n');
    box.write('b.txt', 'terra-demo\n');
    // Restored, not built: how the environments were made is not what this tests.
    await box.seed('dep');
    await box.seed('demo');
    expect((await box.terrarium(['-t', target, '--storage-dir', box.store, 'install', 'a.txt'])).code).toBe(0);
    expect((await box.terrarium(['-t', target, '--storage-dir', box.store, 'install', 'b.txt'])).code).toBe(0);
  });
  afterAll(() => box.cleanup());

  it('keeps the replaced environment as TARGET.bak', async () => {
    expect(await packages(target)).toContain('terra-demo==1.0');
    expect(await packages(`${target}.bak`)).not.toContain('terra-demo');
  });

  it('revert swaps target and backup; a second revert undoes the first', async () => {
    expect((await box.terrarium(['-t', target, 'revert'])).code).toBe(0);
    expect(await packages(target)).not.toContain('terra-demo');
    expect(await packages(`${target}.bak`)).toContain('terra-demo==1.0');
    expect((await box.terrarium(['revert', '--target', target])).code).toBe(0);
    expect(await packages(target)).toContain('terra-demo==1.0');
  });

  it('honours --backup-suffix and --no-backup', async () => {
    const other = box.path('other');
    await box.terrarium(['-t', other, '--storage-dir', box.store, 'install', 'a.txt']);
    expect((await box.terrarium(['-t', other, '--storage-dir', box.store, '--backup-suffix', '.old', 'install', 'b.txt'])).code).toBe(0);
    expect(existsSync(`${other}.old`)).toBe(true);
    expect((await box.terrarium(['-t', other, '--storage-dir', box.store, '--no-backup', 'install', 'a.txt'])).code).toBe(0);
    expect(existsSync(`${other}.bak`)).toBe(false);
    expect(await packages(other)).not.toContain('terra-demo');
  });

  it('drops the backup it displaces after returning (a detached rm), or before, where rm cannot run', async () => {
    const rotated = box.path('rotated');
    const install = (file: string, env = {}) => box.terrarium(['-t', rotated, '--python', python3(), '--storage-dir', box.store, 'install', file], env);
    for (const file of ['a.txt', 'b.txt', 'a.txt']) expect((await install(file)).code).toBe(0);
    expect(await packages(`${rotated}.bak`)).toContain('terra-demo==1.0');
    // The first environment, set aside under a leftover's name, goes away without another run's sweep.
    await expectNoLeftovers(box.dir);
    // Without rm on PATH (the interpreter is named in full), the command removes it itself.
    const result = await install('b.txt', { PATH: box.path('no-tools') });
    expect(result.code, result.stderr).toBe(0);
    expect(leftoversIn(box.dir)).toEqual([]);
    expect(await packages(rotated)).toContain('terra-demo==1.0');
    expect(await packages(`${rotated}.bak`)).not.toContain('terra-demo');
  });

  it('revert without a backup is a clear error', async () => {
    const result = await box.terrarium(['-t', box.path('never-installed'), 'revert']);
    expect(result.code).toBe(8);
    expect(result.stderr).toContain('no backup to revert to');
  });

  it('replaces the activated environment; the shell keeps working with the new one', async () => {
    const script = `source "${target}/bin/activate"
node "${BIN}" install a.txt --storage-dir "${box.store}" -q
echo "code=$?"
python -c "import sys; print(sys.prefix)"
pip list --format=freeze`;
    const result = await box.exec('bash', ['-c', script]);
    const [code, prefix, ...rest] = result.stdout.trim().split('\n');
    expect(code).toBe('code=0');
    expect(prefix).toBe(target);
    expect(rest.join('\n')).not.toContain('terra-demo');
    expect(result.stderr).toBe('');
  });
});
