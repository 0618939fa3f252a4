// A one-line progress bar on stderr: position, loss, images/s and ETA. Falls back to plain lines when
// stderr is not a terminal (CI logs), printing at most every few seconds.
export class Progress {
  #start = performance.now();
  #lastPlain = 0;
  #stream = process.stderr;

  constructor(
    readonly label: string,
    readonly total: number,
  ) {}

  update(done: number, fields: Record<string, string>, images: number): void {
    const elapsed = (performance.now() - this.#start) / 1000;
    const rate = images / Math.max(elapsed, 1e-9);
    const eta = done > 0 ? (elapsed / done) * (this.total - done) : 0;
    const width = 24;
    const filled = Math.round((width * done) / Math.max(this.total, 1));
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    const extra = Object.entries(fields).map(([k, v]) => `${k} ${v}`).join('  ');
    const line = `${this.label} ${bar} ${done}/${this.total}  ${extra}  ${rate.toFixed(1)} img/s  ETA ${formatSeconds(eta)}`;
    if (this.#stream.isTTY) {
      this.#stream.write(`\r${line.padEnd(this.#stream.columns ? this.#stream.columns - 1 : line.length)}`);
    } else if (done === this.total || performance.now() - this.#lastPlain > 5000) {
      this.#lastPlain = performance.now();
      this.#stream.write(`${line}\n`);
    }
  }

  end(): void {
    if (this.#stream.isTTY) this.#stream.write('\n');
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`;
}
