/**
 * How far `pip install` is, read from its own output: each distribution it collects (`Collecting x`,
 * `Processing ./x.whl`, `Requirement already satisfied`), then the list it installs. pip prints
 * nothing while it installs, so the count of that list is the total, and the run is done at
 * `Successfully installed`.
 */
export class PipProgress {
  private found = 0;
  private total: number | undefined;
  private installed = false;
  private last = '';

  feed(line: string): void {
    const text = line.trim();
    if (!text) return;
    this.last = text;
    if (/^(Collecting|Processing|Requirement already satisfied:) /.test(text)) this.found += 1;
    const installing = /^Installing collected packages: (.+)$/.exec(text);
    if (installing) this.total = installing[1]!.split(',').length;
    if (/^Successfully installed /.test(text)) this.installed = true;
  }

  /** For the live line and the heartbeat: a figure that moves, then pip's latest line. */
  describe(): string {
    const figure =
      this.total === undefined
        ? `${this.found} distribution${this.found === 1 ? '' : 's'} collected`
        : `${this.installed ? this.total : 0} of ${this.total} installed`;
    return this.last ? `${figure} · ${this.last.slice(0, 100)}` : figure;
  }
}
