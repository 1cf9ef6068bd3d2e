import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';

/** Shells whose activate scripts venv or virtualenv write, with how each sources one and prints a variable. */
export const SHELLS = [
  { shell: 'bash', script: 'activate', source: '.', show: (v: string) => `echo "$${v}"`, which: 'command -v python' },
  { shell: 'dash', script: 'activate', source: '.', show: (v: string) => `echo "$${v}"`, which: 'command -v python' },
  { shell: 'zsh', script: 'activate', source: '.', show: (v: string) => `echo "$${v}"`, which: 'command -v python' },
  {
    shell: 'fish',
    script: 'activate.fish',
    source: 'source',
    show: (v: string) => (v === 'PATH' ? 'string join : $PATH' : `echo $${v}`),
    which: 'command -v python',
  },
  { shell: 'tcsh', script: 'activate.csh', source: 'source', show: (v: string) => `echo "$${v}"`, which: 'which python' },
].filter(({ shell }) => spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0);

const quote = (p: string) => `'${p.replace(/'/g, `'\\''`)}'`;

function run(command: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): { code: number | null; out: string } {
  const result = spawnSync(command, args, { env, cwd, encoding: 'utf8' });
  return { code: result.status, out: `${result.stdout}${result.stderr}`.trim() };
}

function pycTimes(root: string): Map<string, number> {
  const times = new Map<string, number>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile() && entry.name.endsWith('.pyc')) times.set(p, statSync(p).mtimeMs);
    }
  };
  walk(path.join(root, 'lib'));
  return times;
}

const PROBE = `
import os, sys
import terra_cext, terra_dep, terra_demo.cli, terra_pth_mod
assert terra_cext.add(2, 3) == 5
assert terra_pth_mod.VALUE == 'found through terra_pth.pth'
assert getattr(sys, 'terra_pth_hooked', False), 'the .pth import line did not run'
assert terra_demo.cli.message() == 'terrarium', 'package data not found'
root = os.path.realpath(os.environ['EXPECTED_PREFIX'])
code_file = os.path.realpath(terra_dep.greet.__code__.co_filename)
assert code_file.startswith(root + os.sep), 'tracebacks would show ' + code_file
site = [p for p in sys.path if p.endswith('site-packages')][0]
missing = []
for name in os.listdir(site):
    if name.endswith('.dist-info'):
        for line in open(os.path.join(site, name, 'RECORD')):
            rel = line.split(',')[0]
            if rel and not os.path.exists(os.path.normpath(os.path.join(site, rel))):
                missing.append(rel)
assert not missing, 'RECORD lists missing files: %s' % missing
print('ok')
`;

/**
 * Proves an environment restored at `root` is indistinguishable from one built there: scripts and -m
 * work, the C extension, .pth files and package data load, bytecode is used as is, RECORD files are
 * true, pip manages it, every installed shell activates and deactivates it, and doctor finds nothing.
 * pip runs only what depends on where the environment is (its own script, and an uninstall, which
 * reads the metadata and RECORD, and an install that write there): each pip start costs 0.6-1.0 s here.
 */
export function checkEnvironment(root: string, terrarium: (args: string[]) => { code: number | null; out: string }, env: NodeJS.ProcessEnv): void {
  const bin = (name: string) => path.join(root, 'bin', name);
  const before = pycTimes(root);
  const probe = run(bin('python'), ['-c', PROBE], { ...env, EXPECTED_PREFIX: root });
  expect(probe.out, 'import probe').toBe('ok');
  const script = run(bin('terra-demo'), [], env, '/');
  expect(script.out, 'console script').toBe(`hello, terrarium\n${root}`);
  writeFileSync(path.join(path.dirname(root), 'use-it.py'), 'import terra_demo.cli\nterra_demo.cli.main()\n');
  expect(run(bin('python'), [path.join(path.dirname(root), 'use-it.py')], env, '/').out, 'bin/python script.py').toBe(`hello, terrarium\n${root}`);
  expect(run(bin('python'), ['-m', 'terra_demo.cli'], env, '/').code, 'python -m').toBe(0);
  // Nothing was recompiled: the archive kept the mtimes that the .pyc headers record.
  const after = pycTimes(root);
  for (const [file, mtime] of before) expect(after.get(file), `${file} was rewritten`).toBe(mtime);

  for (const [args, wanted] of [
    [['--version'], root],
    [['uninstall', '-y', 'terra-dep'], 'Successfully uninstalled terra-dep'],
    [['install', 'terra-dep'], 'Successfully installed terra-dep'],
  ] as const) {
    const pip = run(bin('pip'), [...args], env, '/');
    expect(pip.out, `pip ${args.join(' ')}`).toContain(wanted);
    expect(pip.code, `pip ${args.join(' ')}: ${pip.out}`).toBe(0);
  }

  for (const { shell, script: activate, source, show, which } of SHELLS) {
    const lines = [show('PATH'), `${source} ${quote(bin(activate))}`, show('VIRTUAL_ENV'), which, 'deactivate', show('PATH')];
    // A script file, not -c: csh expands aliases (deactivate) when it reads a line, before earlier commands ran.
    const file = path.join(path.dirname(root), `activate-test.${shell}`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const out = run(shell, [file], { ...env, SHELL: shell }, '/').out.split('\n');
    expect(out.slice(1, 3), `${shell} activate`).toEqual([root, bin('python')]);
    expect(out[3], `${shell} deactivate restores PATH`).toBe(out[0]);
  }

  // Last, so that anything the steps above left pointing elsewhere shows up as a named file.
  const doctor = terrarium(['-t', root, 'doctor']);
  expect(doctor.out, 'doctor').toContain('is clean');
  expect(doctor.code, doctor.out).toBe(0);
}
