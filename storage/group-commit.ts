/**
 * Group commit: work requested during one event-loop turn is queued and handed, at
 * setImmediate, to `runBatch` as one batch — one transaction, one WAL sync — and only then
 * is any of it answered. Sequential callers (each awaiting its answer) still get one durable
 * commit each; concurrent callers share one.
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
  /** Batches run so far (a test and the bench read it). */
  batches = 0;

  constructor(
    private readonly runBatch: BatchRunner<T, R>,
    private readonly maxBatch = 1000,
    /** Makes a committed batch durable (an fsync off the event loop); answers wait for it. */
    private readonly durable?: () => Promise<void>,
    /** Called after a batch is durable and answered (feeds wake on it). */
    private readonly afterBatch?: () => void,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Runs everything queued now (also used by close() so nothing queued is lost). */
  flush(): void {
    this.scheduled = false;
    while (this.queue.length) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.batches++;
      let outcomes: Outcome<R>[];
      try {
        outcomes = this.runBatch(batch.map((p) => p.item));
      } catch (error) {
        for (const p of batch) p.reject(error);
        continue;
      }
      const answer = () =>
        batch.forEach((p, k) => {
          const o = outcomes[k]!; // runBatch answers one outcome per item
          if (o.ok) p.resolve(o.value);
          else p.reject(o.error);
        });
      const answered = () => {
        answer();
        this.afterBatch?.();
      };
      if (!this.durable) answered();
      else this.durable().then(answered, (error) => batch.forEach((p) => p.reject(error)));
    }
  }

  get pending(): number {
    return this.queue.length;
  }
}
