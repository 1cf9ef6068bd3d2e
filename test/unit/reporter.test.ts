import { afterEach, describe, expect, it, vi } from 'vitest';
import { secretsOf } from '../../src/cli/secrets.js';
import { TerrariumError } from '../../src/errors.js';
import { createReporter, type Verbosity } from '../../src/report/reporter.js';

function capture(verbosity: Verbosity, secrets: string[]) {
  const out = { stdout: '', stderr: '' };
  const reporter = createReporter({ stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } }, verbosity, {
    secrets,
  });
  return { out, reporter };
}

describe('secrets in output', () => {
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  const keyId = 'AKIAIOSFODNN7EXAMPLE';

  it('are masked on every channel and at every verbosity, in messages, hints and stacks', () => {
    const { out, reporter } = capture(2, secretsOf({ s3AccessKey: keyId, s3SecretKey: secret }, {}));
    reporter.result(`key ${keyId}`);
    reporter.info(`using ${secret}`);
    reporter.warn({ code: 'STORE_UNREACHABLE', store: 's3://b', cause: `retrying with ${keyId}` });
    reporter.detail(`signing with ${secret}`);
    reporter.debug(`header Authorization: AWS4-HMAC-SHA256 Credential=${keyId}/20261124`);
    reporter.failureOutput(`pip said ${secret}\n`);
    reporter.error(new TerrariumError('STORAGE_AUTH', `denied for ${keyId}`, { hint: `check ${secret}`, cause: new Error(`stack with ${secret}`) }));
    reporter.error(new Error(`internal ${secret}`));
    const all = out.stdout + out.stderr;
    expect(all).not.toContain(secret);
    expect(all).not.toContain(keyId);
    expect(all.match(/\*\*\*/g)?.length).toBeGreaterThanOrEqual(9);
  });

  it('are masked before paths under the home directory are shortened, even when they hold that path', () => {
    let stderr = '';
    const reporter = createReporter({ stdout: { write: () => true }, stderr: { write: (t: string) => (stderr += t) } }, 0, {
      secrets: ['Ab/home/ci/Cd'],
      home: '/home/ci',
    });
    reporter.info('key Ab/home/ci/Cd, cache /home/ci/.cache/terrarium');
    expect(stderr).toBe('terrarium: key ***, cache ~/.cache/terrarium\n');
  });

  it('include the credentials of the AWS chain found in the environment', () => {
    expect(secretsOf({}, { AWS_SECRET_ACCESS_KEY: secret, AWS_ACCESS_KEY_ID: keyId, AWS_SESSION_TOKEN: 'token-value' }).sort()).toEqual(
      [secret, keyId, 'token-value'].sort(),
    );
  });
});

describe('text from stores, archives and programs', () => {
  it("shows control characters as escapes on every channel, tabs and newlines kept; the reporter's own colours stay", () => {
    const out = { stdout: '', stderr: '' };
    const reporter = createReporter({ stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t) } }, 2, {
      color: true,
    });
    const hostile = 'built \x1b]0;owned\x07 at\r\x9b2J';
    reporter.result(`a\t${hostile}\nb`);
    reporter.info(hostile);
    reporter.warn({ code: 'STORE_NOT_LISTED', store: hostile, cause: undefined });
    reporter.detail(hostile);
    reporter.failureOutput(`${hostile}\n`);
    reporter.error(new TerrariumError('ARCHIVE_CORRUPT', hostile, { hint: hostile }));
    reporter.phase(hostile, () => hostile).done(hostile);
    const shown = 'built \\x1b]0;owned\\x07 at\\x0d\\x9b2J';
    expect(out.stdout).toBe(`a\t${shown}\nb\n`);
    // info, warn, detail, failure output, error and hint, and the phase's name and summary.
    expect(out.stderr.split(shown).length - 1).toBe(8);
    // What is left of ESC is the reporter's own colour codes.
    expect(out.stderr.replace(/\p{Cc}\[\d*m/gu, '')).not.toMatch(/[^\P{Cc}\t\n]/u);
  });
});

describe('phases', () => {
  const at = new Date(2026, 10, 24, 9, 30, 5).getTime();
  function run(options: { live: boolean; color?: boolean; verbosity?: Verbosity }) {
    const out = { stdout: '', stderr: '' };
    let now = at;
    const reporter = createReporter(
      { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t), columns: 60 } },
      options.verbosity ?? 0,
      { live: options.live, color: options.color, secrets: ['s3cr3t-value'], now: () => now },
    );
    const phase = reporter.phase('download', () => 'half of s3cr3t-value');
    now += 1500;
    reporter.info('in between');
    phase.done('29.0 MiB from s3://bucket?key=s3cr3t-value');
    phase.done('a second end changes nothing');
    reporter.phase('pack').end();
    return out;
  }

  it('in a log: one timestamped summary with its duration, no escape codes, secrets masked', () => {
    const out = run({ live: false });
    expect(out.stderr).toBe('terrarium: in between\nterrarium: 09:30:06 download: 29.0 MiB from s3://bucket?key=*** (1.5 s)\n');
    expect(out.stdout).toBe('');
  });

  it('on a terminal: a live line drawn, cleared around other output, replaced by a ticked summary', () => {
    const out = run({ live: true, color: true });
    expect(out.stderr).toBe(
      '\r\x1b[2K⠋ download: half of *** (0 ms)' +
        '\r\x1b[2Kterrarium: in between\n\r\x1b[2K⠙ download: half of *** (1.5 s)' +
        '\r\x1b[2K\x1b[32m✓\x1b[0m download: 29.0 MiB from s3://bucket?key=*** \x1b[2m(1.5 s)\x1b[0m\n' +
        '\r\x1b[2K⠋ pack (0 ms)\r\x1b[2K',
    );
  });

  it('on a narrow terminal: the message is trimmed, the time so far stays', () => {
    let stderr = '';
    let now = at;
    const reporter = createReporter({ stdout: { write: () => true }, stderr: { write: (t: string) => (stderr += t), columns: 50 } }, 0, {
      live: true,
      now: () => now,
    });
    const phase = reporter.phase('pip install', () => 'collected 41 of 70 packages, building wheel for numpy');
    now += 12_000;
    reporter.info('x');
    const lines = stderr.split('\r\x1b[2K').filter((line) => line.startsWith('⠙'));
    expect(lines).toEqual(['⠙ pip install: collected 41 of 70 packa… (12.0 s)']);
    expect(lines[0]!.length).toBeLessThanOrEqual(49);
    phase.end();
  });

  it('phases that overlap on a terminal: the newer one is shown, the older one again once it ends; each summary on a line of its own', () => {
    let stderr = '';
    let now = at;
    const reporter = createReporter({ stdout: { write: () => true }, stderr: { write: (t: string) => (stderr += t), columns: 60 } }, 0, {
      live: true,
      now: () => now,
    });
    const reuse = reporter.phase('reuse');
    const pip = reporter.phase('pip install');
    now += 1000;
    pip.done('1 package installed');
    now += 500;
    reuse.done('2 stored layers reused');
    expect(stderr).toBe(
      '\r\x1b[2K⠋ reuse (0 ms)\r\x1b[2K\r\x1b[2K⠋ pip install (0 ms)' +
        '\r\x1b[2K✓ pip install: 1 package installed (1.0 s)\n\r\x1b[2K⠙ reuse (1.0 s)' +
        '\r\x1b[2K✓ reuse: 2 stored layers reused (1.5 s)\n',
    );
  });

  it('with --quiet: nothing at all', () => {
    expect(run({ live: true, verbosity: -1 })).toEqual({ stdout: '', stderr: '' });
  });
});

describe('phases that close themselves', () => {
  it('during: the summary work gives, or no line when work throws; either way the phase is over', async () => {
    const { out, reporter } = capture(0, []);
    const result = await reporter.during('pack', async (phase) => {
      phase.done('3 files');
      return 7;
    });
    expect(result).toBe(7);
    await expect(
      reporter.during('publish', async () => {
        throw new Error('store down');
      }),
    ).rejects.toThrow('store down');
    reporter.info('after');
    const lines = out.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^terrarium: \d\d:\d\d:\d\d pack: 3 files \(\d+ ms\)$/);
    expect(lines.slice(1)).toEqual(['terrarium: after']);
  });

  it('masks a secret in a JSON document whatever its characters, and one shorter than 4', () => {
    const { out, reporter } = capture(0, ['q"\\x', 'ab']);
    reporter.document({ value: 'q"\\x', other: 'ab' });
    expect(out.stdout).not.toContain('ab');
    expect(out.stdout).not.toContain('q\\"\\\\x');
    expect(out.stdout).toContain('***');
  });
});

describe('phases in a log', () => {
  afterEach(() => vi.useRealTimers());

  it('print a heartbeat every 10 s whose figures move, with or without a status, then the summary', () => {
    vi.useFakeTimers();
    let clock = Date.parse('2026-12-01T10:00:00Z');
    let stderr = '';
    const reporter = createReporter({ stdout: { write: () => true }, stderr: { write: (t: string) => (stderr += t) } }, 0, { now: () => clock });
    const tick = (ms: number) => {
      clock += ms;
      vi.advanceTimersByTime(ms);
    };
    const venv = reporter.phase('venv');
    tick(10_000);
    tick(10_000);
    venv.done('created');
    let files = 0;
    const unpack = reporter.phase('unpack', () => `${files} files`);
    files = 120;
    tick(10_000);
    unpack.done('verified');
    const lines = stderr
      .trim()
      .split('\n')
      .map((line) => line.replace(/\d\d:\d\d:\d\d/, 'T'));
    expect(lines).toEqual([
      'terrarium: T venv: still working (10.0 s)',
      'terrarium: T venv: still working (20.0 s)',
      'terrarium: T venv: created (20.0 s)',
      'terrarium: T unpack: 120 files (10.0 s)',
      'terrarium: T unpack: verified (10.0 s)',
    ]);
  });
});
