import type { Outcome } from '../group-commit';

interface Pending<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
  /** Answered before the batch ended (BatchHooks.settle). */
  settled?: boolean;
}

/** What a running batch may do before it ends (append.ts: a version conflict's retry). */
export interface BatchHooks<T, R> {
  /** Answers item k of the batch now (the others when the batch ends). */
  settle(k: number, outcome: Outcome<R>): void;
  /**
   * Takes into the running batch what was submitted meanwhile: waits until at least `atLeast`
   * items are queued or `ms` passed, then takes them all (up to the batch's room). They are the
   * batch's next items: its outcomes must cover them, in order.
   */
  more(ms: number, atLeast: number): Promise<readonly T[]>;
}

/**
 * Group commit for an asynchronous database: one batch is written at a time, and whatever is
 * submitted while it is in flight waits and goes, all together, into the next one. Sequential
 * callers (each awaiting its answer) get one transaction each; concurrent callers share one.
 * Only after a batch's COMMIT returned are its items answered.
 */
export class AsyncGroupCommitter<T, R> {
  private queue: Pending<T, R>[] = [];
  private running: Promise<void> | undefined;
  /** Size of the last batch, and who waits for the queue to reach it again (the linger). */
  private lastSize = 0;
  private filled: (() => void) | undefined;
  /** A running batch waiting for more items (BatchHooks.more). */
  private wanted: { atLeast: number; take: () => void } | undefined;
  /** Batches run so far (tests and the bench read it). */
  batches = 0;

  constructor(
    private readonly runBatch: (items: readonly T[], hooks: BatchHooks<T, R>) => Promise<Outcome<R>[]>,
    private readonly maxBatch = 1000,
    /** Called after a batch is committed and answered. */
    private readonly afterBatch?: () => void,
    /**
     * How long a batch may wait for the callers its predecessor just answered to come back
     * (they usually read once before appending again): until as many are queued as the last
     * batch had, at most this long. 0: never wait.
     */
    private readonly lingerMs = 0,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.filled && this.queue.length >= this.lastSize) this.filled();
      if (this.wanted && this.queue.length >= this.wanted.atLeast) this.wanted.take();
      // the first submit of an event-loop turn starts a batch at setImmediate, so the rest of
      // the turn joins it
      this.running ??= new Promise<void>((r) => setImmediate(r)).then(() => this.drain());
    });
  }

  /** Resolves once everything submitted so far has been written (or failed). */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length) {
        if (this.lingerMs > 0 && this.queue.length < this.lastSize) await this.linger();
        const batch = this.queue.splice(0, this.maxBatch);
        this.lastSize = batch.length;
        this.batches++;
        let outcomes: Outcome<R>[];
        try {
          outcomes = await this.runBatch(
            batch.map((p) => p.item),
            this.hooks(batch),
          );
        } catch (error) {
          for (const p of batch) if (!p.settled) p.reject(error);
          continue;
        }
        batch.forEach((p, k) => {
          if (p.settled) return;
          const o = outcomes[k]!; // runBatch answers one outcome per item
          if (o.ok) p.resolve(o.value);
          else p.reject(o.error);
        });
        this.afterBatch?.();
      }
    } finally {
      this.running = undefined;
    }
  }

  private hooks(batch: Pending<T, R>[]): BatchHooks<T, R> {
    return {
      settle: (k, o) => {
        const p = batch[k];
        if (!p || p.settled) return;
        p.settled = true;
        if (o.ok) p.resolve(o.value);
        else p.reject(o.error);
      },
      more: (ms, atLeast) =>
        new Promise<readonly T[]>((resolve) => {
          const take = () => {
            clearTimeout(timer);
            this.wanted = undefined;
            const taken = this.queue.splice(0, Math.max(0, this.maxBatch - batch.length));
            batch.push(...taken);
            resolve(taken.map((p) => p.item));
          };
          const timer = setTimeout(take, ms);
          if (this.queue.length >= atLeast) take();
          else this.wanted = { atLeast, take };
        }),
    };
  }

  private linger(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.filled = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.lingerMs);
      this.filled = done;
    });
  }

  get pending(): number {
    return this.queue.length;
  }
}
