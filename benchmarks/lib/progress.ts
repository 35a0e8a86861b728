/**
 * Progress on stderr: a redrawn bar with an estimate of the time left when
 * stderr is a terminal, one plain line per finished cell otherwise (CI logs).
 * Work is weighted by each cell's expected duration, so the estimate holds
 * when cells differ in length.
 * @module
 */
export class Progress {
  private doneMs = 0;
  private current: { label: string; expectedMs: number; startedAt: number } | undefined;
  private finished = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = performance.now();
  private readonly tty: boolean;

  constructor(
    private readonly totalMs: number,
    private readonly totalCells: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
    enabled = true,
  ) {
    this.tty = enabled && out.isTTY === true;
    if (this.tty) {
      this.timer = setInterval(() => this.draw(), 200);
      this.timer.unref();
    }
    this.enabled = enabled;
  }

  private readonly enabled: boolean;

  /** A cell starts. */
  begin(label: string, expectedMs: number): void {
    this.current = { label, expectedMs, startedAt: performance.now() };
    if (this.tty) this.draw();
  }

  /** The current cell ended; `summary` is a short figure or FAILED. */
  end(summary: string): void {
    const c = this.current;
    this.current = undefined;
    this.finished++;
    if (c) this.doneMs += c.expectedMs;
    if (!this.enabled) return;
    if (this.tty) this.draw();
    else this.out.write(`[${String(this.finished).padStart(String(this.totalCells).length)}/${this.totalCells}] ${c?.label ?? ''}: ${summary}\n`);
  }

  /** A plain message, above the bar. */
  note(text: string): void {
    if (!this.enabled) return;
    if (this.tty) this.out.write('\r\x1b[K');
    this.out.write(`${text}\n`);
    if (this.tty) this.draw();
  }

  private draw(): void {
    const inCell = this.current ? Math.min(this.current.expectedMs, performance.now() - this.current.startedAt) : 0;
    const frac = Math.min(1, (this.doneMs + inCell) / Math.max(1, this.totalMs));
    const width = 28;
    const filled = Math.round(frac * width);
    const elapsed = (performance.now() - this.startedAt) / 1000;
    const left = frac > 0.02 ? Math.max(0, elapsed / frac - elapsed) : this.totalMs / 1000;
    const label = this.current?.label ?? '';
    const cols = this.out.columns ?? 100;
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(frac * 100)).padStart(3)}% ${this.finished}/${this.totalCells} ~${Math.ceil(left)}s left  ${label}`;
    this.out.write(`\r\x1b[K${line.slice(0, cols - 1)}`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.tty) this.out.write('\r\x1b[K');
  }
}
