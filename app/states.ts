import { CorruptHistoryError } from '../domain/vcpu';
import type { Aggregate } from './aggregate';
import type { EventPayload, EventStore, SnapshotListing } from '../storage/event-store';
import { canonicalJson } from '../storage/canonical';
import { LruCache } from '../storage/state-cache';

export interface Loaded<S> {
  state: S;
  version: number;
}

export interface LoadOptions {
  /** Use snapshots (default true); false folds every event from the first. */
  snapshots?: boolean;
  /** Answer from the in-memory cache when it holds that version (default true). */
  cache?: boolean;
}

export interface StatesOptions {
  /** Snapshot every K events (default 100). */
  snapshotEvery?: number;
  /** vCPUs whose current state is kept in memory (default 10,000). */
  cacheSize?: number;
  /** Where a failed background snapshot write is reported (default: ignored; it is a cache). */
  onSnapshotError?: (e: unknown) => void;
  /** Told of every snapshot written (metrics). */
  onSnapshot?: () => void;
  /** Told whether a load was answered from the cache (metrics). */
  onCache?: (hit: boolean) => void;
}

/** Versions read per readPayloads call of a fold (memory stays flat for long histories). */
export const FOLD_CHUNK = 10_000;

/** A stream's cached states: what reads see, and what the next command decides on. */
export interface Entry<S> {
  /** State at the last committed version (what reads see). */
  committed: { state: S | undefined; version: number };
  /** State including appends decided but not yet committed (what the next command decides on). */
  head: { state: S | undefined; version: number };
  /** Appends decided on this entry and not yet settled: the entry must not be evicted. */
  pending: number;
  /** Version of the newest snapshot written or used. */
  snapshotVersion: number;
}

/**
 * Loading one aggregate's streams (vCPUs, host profiles): the latest valid snapshot plus a fold
 * of the events after it, a cache of the current state per stream, and snapshots written in the
 * background every K events.
 */
export class States<C, E, S> {
  readonly snapshotEvery: number;
  private readonly cache: LruCache<Entry<S>>;
  private readonly onSnapshotError: (e: unknown) => void;
  private readonly onSnapshot: () => void;
  private readonly onCache: (hit: boolean) => void;

  constructor(
    private readonly store: EventStore,
    readonly aggregate: Aggregate<C, E, S>,
    opts: StatesOptions = {},
  ) {
    this.snapshotEvery = opts.snapshotEvery ?? 100;
    this.cache = new LruCache<Entry<S>>(opts.cacheSize ?? 10_000, (e) => e.pending > 0);
    this.onSnapshotError = opts.onSnapshotError ?? (() => undefined);
    this.onSnapshot = opts.onSnapshot ?? (() => undefined);
    this.onCache = opts.onCache ?? (() => undefined);
  }

  /** The vCPU at `version` (default: current), or undefined if it does not exist at that version. */
  async load(id: string, version?: number, opts: LoadOptions = {}): Promise<Loaded<S> | undefined> {
    const current = await this.store.streamVersion(id);
    const target = version ?? current;
    if (current === 0 || target < 1 || target > current || !Number.isInteger(target)) return undefined;
    const e = opts.cache === false ? undefined : this.cache.peek(id);
    if (e && e.committed.version === target && e.committed.state) {
      this.onCache(true);
      return { state: e.committed.state, version: target };
    }
    this.onCache(false);
    const r = await this.fold(id, target, opts.snapshots !== false);
    if (target === current && opts.cache !== false && !this.cache.peek(id)) {
      this.cache.set(id, { committed: r, head: r, pending: 0, snapshotVersion: r.snapshotVersion });
    }
    return { state: r.state, version: target };
  }

  /**
   * The entry a command decides on: the cached one while appends of ours are in flight, or
   * where other writers are rare (the append's expected version refuses a stale decision, which
   * drops the entry: the retry folds the stored state); otherwise checked against the store's
   * version (another node may have written). `verify`: checked against the store's version in
   * any case (a condition on the version must see the stored one, not a stale cache).
   */
  async current(id: string, verify = false): Promise<Entry<S>> {
    const cached = this.cache.get(id);
    if (cached && (cached.pending > 0 || (!verify && !this.store.sharedWriters))) {
      if (cached.pending === 0) this.onCache(true);
      return cached;
    }
    const version = await this.store.streamVersion(id);
    if (cached && cached.head.version === version) {
      this.onCache(true);
      return cached;
    }
    this.onCache(false);
    const fresh =
      version === 0 ? { state: undefined, version: 0, snapshotVersion: 0 } : await this.fold(id, version, true);
    const entry: Entry<S> = { committed: fresh, head: fresh, pending: 0, snapshotVersion: fresh.snapshotVersion };
    this.cache.set(id, entry);
    return entry;
  }

  /** An append decided on `entry` was committed at `version`. */
  committed(id: string, entry: Entry<S>, state: S, version: number): void {
    entry.pending--;
    if (version > entry.committed.version) entry.committed = { state, version };
    if (version - entry.snapshotVersion >= this.snapshotEvery) {
      entry.snapshotVersion = version;
      this.snapshotLater(id, version, state);
    }
  }

  /** An append decided on `entry` was not made (refused, or a racer with the same key won). */
  abandoned(id: string, entry: Entry<S>): void {
    entry.pending--;
    this.cache.deleteIf(id, entry);
  }

  /** Forget every cached state (after the database was changed behind our back). */
  clear(): void {
    this.cache.clear();
  }

  /** After the answers of this batch went out: a snapshot is a cache and must not delay them. */
  private snapshotLater(id: string, version: number, state: S): void {
    setImmediate(() => {
      this.store
        .putSnapshot({ streamId: id, version, ...this.aggregate.serializeState(state) })
        .then(this.onSnapshot, this.onSnapshotError);
    });
  }

  /** Latest valid snapshot at or below `target` + fold of the events after it. */
  private async fold(id: string, target: number, useSnapshots: boolean) {
    let base: S | undefined;
    let from = 0;
    if (useSnapshots) {
      for (const s of await this.store.getSnapshots(id, target)) {
        try {
          base = this.aggregate.deserializeState(s.schemaVersion, s.data);
          from = s.version;
          break;
        } catch {
          // unknown format or damaged payload: a cache miss, never an error
        }
      }
    }
    const state = await this.foldRange(id, base, from, target);
    if (!state) throw new CorruptHistoryError(`vCPU ${id} has no events up to version ${target}`);
    let snapshotVersion = from;
    if (useSnapshots && target - from >= this.snapshotEvery) {
      // Rebuild the snapshot that was missing, damaged or of an old format.
      snapshotVersion = target;
      this.snapshotLater(id, target, state);
    }
    return { state, version: target, snapshotVersion };
  }

  /**
   * Folds every vCPU from its first event, ignoring snapshots (a full replay: checks that the
   * whole history still folds; the bench measures it). Returns counts.
   */
  async replayAll(): Promise<{ streams: number; events: number }> {
    let streams = 0;
    let events = 0;
    let after: string | undefined;
    do {
      const page = await this.store.listStreams({
        ...(after === undefined ? {} : { after }),
        limit: 1000,
        kind: this.aggregate.kind,
      });
      for (const s of page.streams) {
        await this.foldRange(s.streamId, undefined, 0, s.version);
        streams++;
        events += s.version;
      }
      await new Promise((r) => setImmediate(r)); // let the service answer between pages
      after = page.next;
    } while (after);
    return { streams, events };
  }

  /**
   * An audit of what a read serves besides the log, for one stream: folds it from its first
   * event (snapshots ignored) and compares, at each snapshot's version, the stored state with the
   * fold's, and at the head the listing's labels with the state's. Returns what disagrees.
   */
  async auditStream(
    id: string,
    head: number,
    snapshots: readonly SnapshotListing[],
    labels: Record<string, string>,
  ): Promise<Array<{ version: number; what: 'snapshot' | 'labels'; detail: string }>> {
    const out: Array<{ version: number; what: 'snapshot' | 'labels'; detail: string }> = [];
    let state: S | undefined;
    let at = 0;
    for (const s of snapshots) {
      if (s.version > head) {
        out.push({ version: s.version, what: 'snapshot', detail: `a snapshot beyond the stream's head ${head}` });
        continue;
      }
      state = await this.foldRange(id, state, at, s.version);
      at = s.version;
      const problem = !s.bound
        ? 'the event at its version no longer has the hash it was folded from'
        : s.seal === 'bad'
          ? 'its seal does not hold (edited after it was written)'
          : this.snapshotDiffers(state!, s);
      if (problem) out.push({ version: s.version, what: 'snapshot', detail: problem });
    }
    state = await this.foldRange(id, state, at, head);
    if (state) {
      const folded = this.aggregate.labelsIfChanged(undefined, state) ?? {};
      if (canonicalJson(folded) !== canonicalJson(labels))
        out.push({
          version: head,
          what: 'labels',
          detail: `listed with labels ${canonicalJson(labels)} but its events give ${canonicalJson(folded)}`,
        });
    }
    return out;
  }

  /** The fold's state against a stored one, as the bytes a snapshot of it would hold. */
  private snapshotDiffers(state: S, s: SnapshotListing): string | undefined {
    const folded = this.aggregate.serializeState(state);
    let stored = s.dataText;
    if (folded.schemaVersion !== s.schemaVersion) {
      // an older state format: compared through the codec that reads it
      try {
        const data: unknown = JSON.parse(s.dataText);
        stored = canonicalJson(
          this.aggregate.serializeState(this.aggregate.deserializeState(s.schemaVersion, data)).data,
        );
      } catch {
        return `its state (schema ${s.schemaVersion}) cannot be read`;
      }
    }
    return canonicalJson(folded.data) === stored
      ? undefined
      : 'its state is not the fold of the events up to its version';
  }

  /**
   * Folds versions from+1..to onto `base`, FOLD_CHUNK versions per read: the rows of one chunk
   * at a time are in memory, whatever the length of the history (a fold of 10M events holds
   * 10,000 rows, not 10M).
   */
  private async foldRange(id: string, base: S | undefined, from: number, to: number): Promise<S | undefined> {
    let state = base;
    for (let lo = from; lo < to; lo += FOLD_CHUNK) {
      const hi = Math.min(to, lo + FOLD_CHUNK);
      state = this.foldPayloads(state, await this.store.readPayloads(id, lo + 1, hi), lo, hi);
    }
    return state;
  }

  private foldPayloads(base: S | undefined, payloads: EventPayload[], from: number, to: number): S | undefined {
    if (payloads.length !== to - from) {
      throw new CorruptHistoryError(`expected events ${from + 1}..${to}, found ${payloads.length}`);
    }
    for (let i = 0; i < payloads.length; i++) {
      const v = payloads[i]![0];
      if (v !== from + i + 1) throw new CorruptHistoryError(`event version ${v} where ${from + i + 1} was expected`);
    }
    return this.aggregate.foldStored(base, payloads);
  }
}
