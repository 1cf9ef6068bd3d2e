import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type RunResult, run } from '../../src/io/exec.js';

/**
 * A machine without Python, for the length of one script: as root, a mount namespace in which pyenv's
 * root is an empty tmpfs and /usr/bin a hard-linked copy without python* (Node, bash and the C
 * compiler stay). Undefined where it cannot be made (not root, no unshare).
 */
export class NoPython {
  private constructor(
    private readonly bin: string,
    private readonly pyenvRoot: string,
  ) {}

  static create(): NoPython | undefined {
    if (process.getuid?.() !== 0) return undefined;
    try {
      execFileSync('unshare', ['-m', 'true']);
    } catch {
      return undefined;
    }
    const bin = mkdtempSync(path.join(tmpdir(), 'no-python-bin-'));
    // A hard-linked copy where the scratch space shares /usr's file system, a copy where it does not (tmpfs).
    execFileSync('cp', [statSync(bin).dev === statSync('/usr/bin').dev ? '-al' : '-a', '/usr/bin/.', bin]);
    for (const name of readdirSync(bin).filter((n) => /python/.test(n))) rmSync(path.join(bin, name));
    const pyenvRoot = process.env.PYENV_ROOT || path.join(process.env.HOME ?? '/root', '.pyenv');
    return new NoPython(bin, pyenvRoot);
  }

  /** Runs a bash script there; it sees no interpreter (`command -v python3` fails). */
  run(script: string, env: NodeJS.ProcessEnv, cwd: string): Promise<RunResult> {
    const hide = `mount -t tmpfs none ${JSON.stringify(this.pyenvRoot)} && mount --bind ${JSON.stringify(this.bin)} /usr/bin`;
    return run(
      'unshare',
      ['-m', 'bash', '-c', `set -e\n${hide}\nif command -v python3 >/dev/null; then echo 'python3 still visible' >&2; exit 99; fi\n${script}`],
      {
        env,
        cwd,
      },
    );
  }

  cleanup(): void {
    rmSync(this.bin, { recursive: true, force: true });
  }
}
