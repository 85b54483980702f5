// Bounded concurrency with retry of transient failures. sshd refuses session
// channels beyond MaxSessions (default 10) and, measured, already now and
// then above 6: so we keep at most `limit` in flight, queue the rest, and
// retry a refused open with back-off (the command never started then). A
// refusal below the cap lowers the cap to what the server accepted.

export interface ExecQueueOptions {
  limit: number;
  retries?: number; // extra attempts after the first (default none: a plain bound on concurrency)
  baseDelayMs?: number; // back-off: base * 2^attempt, plus up to 50 % jitter
  isTransient?: (err: unknown) => boolean;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export class ExecQueue {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  /** Current cap; lowered when the server refuses channels below `limit` (its MaxSessions is lower). */
  limit: number;
  /** How many transient failures were retried (observable for tests and benchmarks). */
  retried = 0;
  /** Highest number of tasks in flight at once. */
  peak = 0;

  constructor(private readonly opts: ExecQueueOptions) {
    this.limit = opts.limit;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.random = opts.random ?? Math.random;
  }

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.running++;
    this.peak = Math.max(this.peak, this.running);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          return await task();
        } catch (err) {
          if (attempt >= (this.opts.retries ?? 0) || !this.opts.isTransient?.(err)) throw err;
          this.retried++;
          // The server refused with running-1 others open: never ask for more again.
          this.limit = Math.max(1, Math.min(this.limit, this.running - 1));
          const d = (this.opts.baseDelayMs ?? 0) * 2 ** attempt;
          await this.sleep(d + this.random() * d * 0.5);
        }
      }
    } finally {
      // Hand the slot straight to the next waiter (running stays the same),
      // unless the cap was lowered below what runs now.
      const next = this.running <= this.limit ? this.waiting.shift() : undefined;
      if (next) next();
      else this.running--;
    }
  }
}
