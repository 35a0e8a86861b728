/**
 * Progress on stderr: a redrawn bar with an estimate of the time left when
 * stderr is a terminal, one plain line per finished cell otherwise (CI logs).
 * Work is weighted by each cell's expected duration, so the estimate holds
 * when cells differ in length.
 * @module
 */
interface Running {
  label: string;
  expectedMs: number;
  startedAt: number;
}

export class Progress {
  private doneMs = 0;
  private finished = 0;
  private nextId = 0;
  private readonly running = new Map<number, Running>();
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly startedAt = performance.now();
  private readonly tty: boolean;

  constructor(
    private readonly totalMs: number,
    private readonly totalCells: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = out.isTTY === true;
    if (this.tty) {
      this.timer = setInterval(() => this.draw(), 200);
      this.timer.unref();
    }
  }

  /** A cell starts; returns its ticket for `end`. */
  begin(label: string, expectedMs: number): number {
    const id = this.nextId++;
    this.running.set(id, { label, expectedMs, startedAt: performance.now() });
    if (this.tty) this.draw();
    return id;
  }

  /** A cell ended; `summary` is a short figure or FAILED. */
  end(id: number, summary: string): void {
    const c = this.running.get(id);
    this.running.delete(id);
    this.finished++;
    if (c) this.doneMs += c.expectedMs;
    if (this.tty) this.draw();
    else
      this.out.write(
        `[${String(this.finished).padStart(String(this.totalCells).length)}/${this.totalCells}] ${c?.label ?? ''}: ${summary}\n`,
      );
  }

  /** A plain message, above the bar. */
  note(text: string): void {
    if (this.tty) this.out.write('\r\x1b[K');
    this.out.write(`${text}\n`);
    if (this.tty) this.draw();
  }

  private draw(): void {
    const now = performance.now();
    let inCells = 0;
    for (const c of this.running.values()) inCells += Math.min(c.expectedMs, now - c.startedAt);
    const frac = Math.min(1, (this.doneMs + inCells) / Math.max(1, this.totalMs));
    const width = 28;
    const filled = Math.round(frac * width);
    const elapsed = (now - this.startedAt) / 1000;
    const left = frac > 0.02 ? Math.max(0, elapsed / frac - elapsed) : this.totalMs / 1000;
    const labels = [...this.running.values()].map((c) => c.label).join(', ');
    const cols = this.out.columns ?? 100;
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(frac * 100)).padStart(3)}% ${this.finished}/${this.totalCells} ~${Math.ceil(left)}s left  ${labels}`;
    this.out.write(`\r\x1b[K${line.slice(0, cols - 1)}`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.tty) this.out.write('\r\x1b[K');
  }
}
