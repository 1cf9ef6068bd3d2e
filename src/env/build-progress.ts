import { formatCount, groupDigits } from '../report/format.js';

/**
 * How far `pip install` is, read from its own output: each distribution it collects (`Collecting x`,
 * `Processing ./x.whl`, `Requirement already satisfied`), then the list it installs. pip prints
 * nothing while it installs, so the count of that list is the total, and how many of them are in
 * place is read from site-packages (`installedNow`: the names there), where each one's `.dist-info`
 * appears as pip finishes it.
 */
export class PipProgress {
  private found = 0;
  private total: number | undefined;
  /** What site-packages held when pip began to install: what it adds beside it is done. */
  private before: Set<string> | undefined;
  private installed = false;
  private last = '';

  constructor(private readonly installedNow: () => readonly string[] = () => []) {}

  feed(line: string): void {
    const text = line.trim();
    if (!text) return;
    this.last = text;
    if (/^(Collecting|Processing|Requirement already satisfied:) /.test(text)) this.found += 1;
    const installing = /^Installing collected packages: (.+)$/.exec(text);
    if (installing) {
      this.total = installing[1]!.split(',').length;
      this.before = new Set(this.installedNow());
      this.installed = false;
    }
    if (/^Successfully installed /.test(text)) this.installed = true;
  }

  /** For the live line and the heartbeat: a figure that moves, then pip's latest line. */
  describe(): string {
    const figure = this.total === undefined ? `${formatCount(this.found, 'distribution')} collected` : `${this.done()} of ${groupDigits(this.total)} installed`;
    return this.last ? `${figure} · ${this.last.slice(0, 100)}` : figure;
  }

  private done(): string {
    if (this.installed || this.total === undefined) return groupDigits(this.total ?? 0);
    const before = this.before ?? new Set();
    const added = this.installedNow().filter((name) => name.endsWith('.dist-info') && !before.has(name)).length;
    return groupDigits(Math.min(added, this.total));
  }
}

/** How far compileall is: the modules it names as it compiles them (`Compiling '…'...`), of the sources counted beside it. */
export class BytecodeProgress {
  private compiled = 0;
  private total: number | undefined;

  feed(line: string): void {
    if (line.startsWith('Compiling ')) this.compiled += 1;
  }

  /** The sources there are to compile, once counted. */
  counted(total: number): void {
    this.total = total;
  }

  describe(): string {
    if (this.total === undefined) return `${formatCount(this.compiled, 'module')} compiled`;
    return `${groupDigits(Math.min(this.compiled, this.total))} of ${formatCount(this.total, 'module')} compiled`;
  }
}
