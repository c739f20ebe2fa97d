/** What a store reports as it works, for metrics (api/metrics.ts); every call is cheap. */
export interface StoreObserver {
  /** A group-commit batch of `groups` append groups is being committed. */
  batch(groups: number): void;
  /** The batch's commit became durable after `seconds` (the WAL sync). */
  durable(seconds: number): void;
  /** Events appended (committed) by a batch. */
  appended(events: number): void;
}
