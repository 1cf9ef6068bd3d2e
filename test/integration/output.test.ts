import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { TerrariumError } from '../../src/errors.js';
import { BIN, Sandbox } from '../helpers/cli.js';
import { ARCH } from '../helpers/python.js';

const ESC = '\x1b';
const hasScript = spawnSync('script', ['--version']).status === 0;

/** Volatile parts of output (the sandbox path, times, durations, sizes) replaced, so that the rest can be compared as is. */
function normalise(text: string, box: Sandbox): string {
  return (
    text
      .split(box.dir)
      .join('<box>')
      .replace(/(^|[\s(])~\//gm, '$1<box>/')
      .replace(new RegExp(`${ARCH}-3\\.\\d+-[0-9a-f]{32}`, 'g'), '<key>')
      .replace(/\/\S*\/bin\/python[\d.]*/g, '<python>')
      .replace(/([Pp]ython) 3\.\d+\.\d+/g, '$1 <version>')
      .replace(/cpython-3\.\d+\.\d+/g, 'cpython-<version>')
      .replace(/\b\d\d:\d\d:\d\d\b/g, '<time>')
      .replace(/\(\d+(\.\d+)? (ms|s)\)/g, '(<duration>)')
      .replace(/ in \d+(\.\d)? (ms|s)$/gm, ' in <duration>')
      .replace(/"seconds": [\d.]+/g, '"seconds": 0')
      // An archive's size moves with its manifest's creation time: what matters is that some were read.
      .replace(/"bytes": [1-9]\d*/g, '"bytes": "<some>"')
      .replace(/"(size|unpackedSize|entries)": \d+/g, '"$1": 0')
      .replace(/"created": "[^"]+"/g, '"created": "<date>"')
      .replace(/"platform": \{[^}]*\}/g, '"platform": "<platform>"')
      .replace(/"tag": "[^"]+"/g, '"tag": "<interpreter>"')
      .replace(/"version": "\d+\.\d+\.\d+"/g, '"version": "<version>"')
      .replace(/\d+(\.\d)? (B|KiB|MiB)\b/g, '<size>')
      .replace(/[0-9a-f]{32}/g, '<digest>')
  );
}

/**
 * The lines a log keeps of each phase: its summary. A phase that outlasts 10 s (a slow or busy machine)
 * also prints heartbeats, each followed by a later line of the same phase; they are dropped here.
 */
function withoutHeartbeats(text: string): string {
  const lines = text.split('\n');
  const phaseOf = (line: string | undefined) => /^terrarium: <time> ([^:]+): /.exec(line ?? '')?.[1];
  return lines.filter((line, i) => !phaseOf(line) || phaseOf(line) !== phaseOf(lines[i + 1])).join('\n');
}

/** The arguments of util-linux script that run terrarium with `args` in a pseudo-terminal `columns` wide. */
function scriptArgs(args: string[], columns = 120): string[] {
  const quoted = [process.execPath, BIN, ...args].map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`).join(' ');
  // exec: terrarium itself is the terminal's foreground process, as when a person runs it.
  return ['-q', '-e', '-c', `stty cols ${columns}; exec ${quoted}`, '/dev/null'];
}

/** Runs terrarium in a pseudo-terminal, as a person at a terminal would; returns what the terminal got. */
function inTerminal(box: Sandbox, args: string[], env: NodeJS.ProcessEnv = {}, status = 0, columns = 120): string {
  const result = spawnSync('script', scriptArgs(args, columns), {
    cwd: box.dir,
    env: { ...box.env, ...env },
    encoding: 'utf8',
  });
  expect(result.status, result.stdout + result.stderr).toBe(status);
  return result.stdout;
}

/** What the terminal showed of the live lines between redraws, escape codes taken out. */
function liveLines(screen: string): string[] {
  return screen
    .split(/\r|\n/)
    .map((part) => part.replace(new RegExp(`${ESC}\\[[0-9;]*[A-Za-z]`, 'g'), ''))
    .filter((part) => /^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] /.test(part));
}

describe('what a person and a CI script see', () => {
  const box = new Sandbox();
  const store = (...args: string[]) => ['--storage-dir', box.store, '--no-cache', ...args];

  beforeAll(async () => {
    box.write('requirements.txt', 'terra-demo\n');
    box.write('other.txt', 'terra-dep\n');
  });
  afterAll(() => box.cleanup());

  it('plain output in a log: one timestamped line per phase with its duration, no escape codes', async () => {
    const built = await box.terrarium(store('-t', box.path('built'), 'install', 'requirements.txt'));
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).not.toContain(ESC);
    expect(withoutHeartbeats(normalise(built.stderr, box))).toMatchSnapshot();
    const restored = await box.terrarium(store('-t', box.path('restored'), 'install', 'requirements.txt'));
    expect(withoutHeartbeats(normalise(restored.stderr, box))).toMatchSnapshot();
  });

  it('--json: one document on stdout for each command, errors included', async () => {
    const docs: Record<string, unknown> = {};
    for (const [name, args] of [
      ['key', ['key', 'requirements.txt']],
      ['hash', ['hash', 'requirements.txt']],
      ['exists (stored)', store('exists', 'requirements.txt')],
      ['exists (not stored)', store('exists', 'other.txt')],
      ['install (hit)', store('-t', box.path('json-env'), 'install', 'requirements.txt')],
      ['ls', store('ls')],
      ['doctor', ['-t', box.path('json-env'), 'doctor']],
      ['error: missing requirements file', ['key', 'missing.txt']],
    ] as const) {
      const result = await box.terrarium(['--json', ...args]);
      docs[name] = JSON.parse(normalise(result.stdout, box));
    }
    expect(docs).toMatchSnapshot();
    expect((docs['error: missing requirements file'] as { error: { exitCode: number } }).error.exitCode).toBe(3);
  });

  it.skipIf(!hasScript)('on a terminal: a live line per phase, replaced by its summary; the answer alone on stdout', () => {
    const screen = inTerminal(box, store('-t', box.path('tty'), 'install', 'requirements.txt'));
    expect(screen).toContain(`\r${ESC}[2K`); // the live line is redrawn in place
    expect(screen).toMatch(/⠋ unpack/); // its spinner and phase name
    expect(screen).toMatch(new RegExp(`${ESC}\\[32m✓${ESC}\\[0m unpack: .* verified; [\\d,]+ files`)); // the summary, with a green tick
    expect(screen).toMatch(new RegExp(`terrarium: restored ${ARCH}-3\\.\\d+-[0-9a-f]{32} from .* in \\d+(\\.\\d)? m?s`));
  });

  it.skipIf(!hasScript)('NO_COLOR drops the colours, --no-progress every escape code, -q everything but errors', () => {
    const plainColours = inTerminal(box, store('-t', box.path('tty-nc'), 'install', 'requirements.txt'), { NO_COLOR: '1' });
    expect(plainColours).not.toContain(`${ESC}[32m`);
    expect(plainColours).toContain('✓ unpack');
    const noProgress = inTerminal(box, store('--no-progress', '-t', box.path('tty-np'), 'install', 'requirements.txt'));
    expect(noProgress).not.toContain(ESC);
    expect(noProgress).toMatch(/terrarium: \d\d:\d\d:\d\d unpack: /);
    expect(inTerminal(box, store('-q', '-t', box.path('tty-q'), 'install', 'requirements.txt'))).toBe('');
  });

  it.skipIf(!hasScript)('a bare terrarium at a terminal: the short usage, exit 2; TERM=dumb: no live line, no colour', () => {
    const bare = inTerminal(box, [], {}, 2);
    expect(bare).toMatch(/^usage: terrarium \[options\] COMMAND/);
    expect(bare.trim().split('\n').length).toBeLessThan(6);
    const dumb = inTerminal(box, store('-t', box.path('tty-dumb'), 'install', 'requirements.txt'), { TERM: 'dumb' });
    expect(dumb).not.toContain(ESC);
    expect(dumb).toMatch(/terrarium: \d\d:\d\d:\d\d unpack: /);
  });

  it.skipIf(!hasScript)("on an 80-column terminal, a build's live lines fit, and pip's and compileall's say how far they are", () => {
    const screen = inTerminal(box, store('-t', box.path('tty-80'), '--no-download', '--no-upload', 'install', 'other.txt'), {}, 0, 80);
    expect(screen).toMatch(/pip install: \d+ distributions? collected/);
    // The reproducible build compiles all of site-packages (pip's own modules too): long enough to be seen moving.
    const compiled = [...screen.matchAll(/bytecode: ([\d,]+) of ([\d,]+) modules compiled/g)].map((match) => Number(match[1]!.replace(/,/g, '')));
    expect(compiled.length, screen).toBeGreaterThan(1);
    expect(compiled.some((count) => count > 0 && count < Math.max(...compiled))).toBe(true);
    // No live line may wrap (it could not be redrawn in place).
    const live = liveLines(screen);
    expect(live.length).toBeGreaterThan(0);
    expect(live.filter((part) => part.length > 80)).toEqual([]);
  });

  it.skipIf(!hasScript)('on a 50-column terminal, every live line fits and keeps its time so far', () => {
    const screen = inTerminal(box, store('-t', box.path('tty-50'), '--no-download', '--no-upload', 'install', 'other.txt'), {}, 0, 50);
    const live = liveLines(screen);
    expect(live.length).toBeGreaterThan(0);
    expect(live.filter((part) => part.length > 50)).toEqual([]);
    expect(live.filter((part) => !/ \(\d+(\.\d)? (ms|s)\)$/.test(part))).toEqual([]);
  });

  it.skipIf(!hasScript)('Ctrl-C at a terminal: the live line is cleared before the notice, exit 130, the target left as it was', async () => {
    const child = spawn('script', scriptArgs(store('-t', box.path('ctrl-c'), '--no-download', 'install', 'requirements.txt')), {
      cwd: box.dir,
      env: box.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const before = screen;
      screen += chunk.toString();
      // The key typed at the terminal once the build's live line is up: the terminal sends SIGINT.
      if (!/⠋ venv/.test(before) && /⠋ venv/.test(screen)) child.stdin.write('\x03');
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, screen).toBe(130);
    expect(screen).toContain(`\r${ESC}[2Kterrarium: SIGINT received: stopping and cleaning up`);
    expect(screen).toContain('interrupted by SIGINT before the target was changed');
    expect(existsSync(box.path('ctrl-c'))).toBe(false);
  });

  it('interrupted on a terminal, the live line is cleared before the notice; the target is left as it was', async () => {
    const controller = new AbortController();
    let stderr = '';
    let interrupting = false;
    const status = await main([...store('-t', box.path('interrupted'), '--no-download', 'install', 'requirements.txt')], {
      env: box.env,
      cwd: box.dir,
      stdout: { write: () => true },
      stderr: {
        isTTY: true,
        columns: 80,
        write: (text: string) => {
          stderr += text;
          // Once the build's live line is up, what Ctrl-C does (abortOnSignals aborts so, with the signal's
          // name), as a signal arrives: between writes, not inside one.
          if (!interrupting && /⠋ venv/.test(stderr)) {
            interrupting = true;
            const reason = Object.assign(new TerrariumError('INTERRUPTED', 'interrupted by SIGINT', { exitCode: 130 }), { signalName: 'SIGINT' });
            setImmediate(() => controller.abort(reason));
          }
          return true;
        },
      },
      signal: controller.signal,
    });
    expect(status).toBe(130);
    expect(stderr).toContain(`\r${ESC}[2Kterrarium: SIGINT received: stopping and cleaning up`);
    expect(existsSync(box.path('interrupted'))).toBe(false);
  });
});
