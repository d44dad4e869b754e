// progress.ts - the progress bars on stderr: bytes of a download (redrawn in place on a terminal,
// a line every 10% otherwise (logs, CI), so long downloads show life either way) and the phases
// of distill (teacher, training: rate, ETA and the phase's own figures).

const MiB = 1024 * 1024;

/** `[####......]`: frac of 30 cells, rounded to the nearest. */
function cells(frac: number): string {
  const width = 30;
  const fill = Math.round(frac * width);
  return `[${"#".repeat(fill)}${".".repeat(width - fill)}]`;
}

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
      process.stderr.write(`\r${cells(frac)} ${text}`);
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

/** A phase's line, redrawn in place: phase, bar, percent, rate, ETA (eta < 0: unknown), extra. */
export function phaseLine(phase: string, done: number, total: number, rate: string, eta: number, extra = ""): void {
  const f = total > 0 ? Math.min(1, done / total) : 0;
  const etaText = eta < 0 ? "ETA ?" : `ETA ${formatSeconds(eta)}`;
  process.stderr.write(`\r${phase.padEnd(7)} ${cells(f)} ${(100 * f).toFixed(1).padStart(5)}% ${rate} ${etaText} ${extra}\x1b[K`);
}

function formatSeconds(s: number): string {
  s = Math.round(s);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}
