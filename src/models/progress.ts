// progress.ts - a byte progress bar on stderr: redrawn in place on a terminal, a line every
// 10% otherwise (logs, CI), so long downloads show life either way.

const MiB = 1024 * 1024;

export class ProgressBar {
  #lastDecile = -1;
  #shown = 0; // never moves back: staged and final copies of a download overlap
  #lastDraw = 0;
  readonly #tty = Boolean(process.stderr.isTTY);

  constructor(
    readonly label: string,
    readonly total: number,
  ) {}

  update(bytes: number): void {
    const done = (this.#shown = Math.max(this.#shown, bytes));
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 0;
    const text = `${this.label} ${(frac * 100).toFixed(0).padStart(3)}% ${(done / MiB).toFixed(1)}/${(this.total / MiB).toFixed(1)} MiB`;
    if (this.#tty) {
      const now = performance.now();
      if (now - this.#lastDraw < 100 && frac < 1) return;
      this.#lastDraw = now;
      const width = 30;
      const fill = Math.round(frac * width);
      process.stderr.write(`\r[${"#".repeat(fill)}${".".repeat(width - fill)}] ${text}`);
    } else {
      const decile = Math.floor(frac * 10);
      if (decile === this.#lastDecile) return;
      this.#lastDecile = decile;
      process.stderr.write(`${text}\n`);
    }
  }

  done(): void {
    this.update(this.total);
    if (this.#tty) process.stderr.write("\n");
  }
}
