/**
 * Group commit: work requested during one event-loop turn is queued and handed, at
 * setImmediate, to `runBatch` as one batch — one transaction — and only once a WAL sync after
 * it completed is any of it answered. One sync is in flight at a time: what is requested while
 * it runs waits for it and then commits as one batch with one sync of its own (a sync per batch,
 * started while others ran, made 16 clients' writes into batches of 5 and as many syncs).
 * Sequential callers (each awaiting its answer) still get one durable commit each; concurrent
 * callers share one.
 */

/** Per item: its value, or the error that failed it alone (the rest of the batch commits). */
export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

/** Runs a whole batch durably (synchronously), or throws to fail all of it. */
export type BatchRunner<T, R> = (items: readonly T[]) => Outcome<R>[];

interface Pending<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export class GroupCommitter<T, R> {
  private queue: Pending<T, R>[] = [];
  private scheduled = false;
  /** A sync is in flight: new work waits in the queue, and is flushed when the sync ends (afterSync). */
  private syncing = false;
  /** Batches run so far (a test and the bench read it). */
  batches = 0;

  constructor(
    private readonly runBatch: BatchRunner<T, R>,
    private readonly maxBatch = 1000,
    /** Makes everything committed so far durable (an fsync off the event loop); answers wait for it. */
    private readonly durable?: () => Promise<void>,
    /** Called after batches are durable and answered (feeds wake on it). */
    private readonly afterBatch?: () => void,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.syncing || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /**
   * Commits everything queued now, then syncs once for all of it (also used by close(), even
   * while a sync is in flight, so nothing queued is lost).
   */
  flush(): void {
    this.scheduled = false;
    const committed: Array<{ batch: Pending<T, R>[]; outcomes: Outcome<R>[] }> = [];
    while (this.queue.length) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.batches++;
      try {
        committed.push({ batch, outcomes: this.runBatch(batch.map((p) => p.item)) });
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    }
    if (committed.length === 0) return;
    const answer = () => {
      for (const { batch, outcomes } of committed) {
        batch.forEach((p, k) => {
          const o = outcomes[k]!; // runBatch answers one outcome per item
          if (o.ok) p.resolve(o.value);
          else p.reject(o.error);
        });
      }
      this.afterBatch?.();
    };
    if (!this.durable) return answer();
    this.syncing = true;
    this.durable().then(
      () => this.afterSync(answer),
      (error: unknown) =>
        this.afterSync(() => {
          for (const { batch } of committed) for (const p of batch) p.reject(error);
        }),
    );
  }

  /**
   * A sync ended: what waited for it commits and starts its own sync first, then the synced
   * batches are settled, so the next sync runs while their answers are written.
   */
  private afterSync(settle: () => void): void {
    this.syncing = false;
    if (this.queue.length) this.flush();
    settle();
  }

  get pending(): number {
    return this.queue.length;
  }
}
