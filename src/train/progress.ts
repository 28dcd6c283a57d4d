/**
 * A terminal progress bar for training: step, smoothed loss, images/s and ETA.
 * On a terminal it redraws one line; in a log file (not a TTY) it prints a line every
 * `logEvery` steps instead, so CI logs stay readable.
 */
export interface ProgressOptions {
  total: number;
  /** how many images one step processes (for images/s) */
  batchSize: number;
  stream?: NodeJS.WriteStream;
  logEvery?: number;
  /** first step number shown (a resumed run starts past 0) */
  startStep?: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export class ProgressBar {
  private readonly started = Date.now();
  private readonly stream: NodeJS.WriteStream;
  private readonly isTTY: boolean;
  private readonly logEvery: number;
  private readonly startStep: number;
  /** exponential moving average of the loss (bias-corrected, like Adam's moments) */
  private emaLoss = 0;
  private emaWeight = 0;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.isTTY = Boolean(this.stream.isTTY);
    this.logEvery = opts.logEvery ?? 50;
    this.startStep = opts.startStep ?? 0;
  }

  /** The smoothing state, saved in checkpoints so that a resumed run's smoothed loss continues. */
  getState(): { emaLoss: number; emaWeight: number } {
    return { emaLoss: this.emaLoss, emaWeight: this.emaWeight };
  }
  setState(s: { emaLoss: number; emaWeight: number } | undefined): void {
    if (s && Number.isFinite(s.emaLoss) && Number.isFinite(s.emaWeight)) [this.emaLoss, this.emaWeight] = [s.emaLoss, s.emaWeight];
  }

  /** The loss smoothed over roughly the last 50 steps. */
  get smoothedLoss(): number {
    return this.emaWeight > 0 ? this.emaLoss / this.emaWeight : NaN;
  }

  update(step: number, loss: number, extra = ''): void {
    const beta = 0.98;
    this.emaLoss = beta * this.emaLoss + (1 - beta) * loss;
    this.emaWeight = beta * this.emaWeight + (1 - beta);
    const done = step - this.startStep;
    const elapsed = (Date.now() - this.started) / 1000;
    const perStep = elapsed / Math.max(done, 1);
    const eta = perStep * (this.opts.total - step);
    const imgs = (done * this.opts.batchSize) / Math.max(elapsed, 1e-9);
    const frac = Math.min(step / this.opts.total, 1);
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
    const text = `[${bar}] step ${step}/${this.opts.total} loss ${this.smoothedLoss.toFixed(4)} ${imgs.toFixed(1)} img/s ${formatDuration(perStep)}/step elapsed ${formatDuration(elapsed)} ETA ${formatDuration(eta)}${extra ? ' ' + extra : ''}`;
    if (this.isTTY) this.stream.write(`\r${text}\x1b[K`);
    else if (step % this.logEvery === 0 || step === this.opts.total || done === 1) this.stream.write(text + '\n');
  }

  /** Print a message on its own line without breaking the bar. */
  log(message: string): void {
    this.stream.write((this.isTTY ? '\r\x1b[K' : '') + message + '\n');
  }

  finish(): void {
    if (this.isTTY) this.stream.write('\n');
  }
}
