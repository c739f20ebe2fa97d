import { readValueAt } from '../domain/cpreg-arrays';
import {
  CorruptHistoryError,
  decide,
  deserializeState,
  diffStates,
  foldEvents,
  foldSerialized,
  labelsOf,
  serializeEvent,
  serializeState,
  type RegisterChange,
  type VcpuCommand,
  type VcpuEvent,
  type VcpuState,
} from '../domain/vcpu';
import {
  ConcurrencyError,
  IdempotencyConflictError,
  type AppendResult,
  type EventPayload,
  type EventStore,
  type IdempotencyRecord,
  type MetadataInput,
  type StoredEvent,
} from './event-store';
import { KeyedLock } from './keyed-lock';
import { LruCache } from './state-cache';

export interface Loaded {
  state: VcpuState;
  version: number;
}

export interface LoadOptions {
  /** Use snapshots (default true); false folds every event from the first. */
  snapshots?: boolean;
  /** Answer from the in-memory cache when it holds that version (default true). */
  cache?: boolean;
}

export interface ExecuteOptions {
  /** If-Match: the vCPU must be exactly at this version (0: must not exist), else ConcurrencyError. */
  expectedVersion?: number;
  idempotency?: { key: string; requestHash: string };
  metadata: MetadataInput;
  /** The answer a repeat of the idempotency key gets back (JSON), made from the outcome. */
  resultOf?: (outcome: { state: VcpuState; version: number; events: readonly VcpuEvent[] }) => unknown;
}

export interface ExecuteResult {
  state: VcpuState;
  version: number;
  events: StoredEvent[];
  /** A repeat of an idempotency key: nothing was decided or appended. */
  replayed: boolean;
  result?: unknown;
}

export interface RepositoryOptions {
  /** Snapshot every K events (default 100). */
  snapshotEvery?: number;
  /** vCPUs whose current state is kept in memory (default 10,000). */
  cacheSize?: number;
  /** Retries of a write without expectedVersion that lost a race with another process. */
  maxRetries?: number;
  /** Where a failed background snapshot write is reported (default: ignored; it is a cache). */
  onSnapshotError?: (e: unknown) => void;
}

interface Entry {
  /** State at the last committed version (what reads see). */
  committed: { state: VcpuState | undefined; version: number };
  /** State including appends decided but not yet committed (what the next command decides on). */
  head: { state: VcpuState | undefined; version: number };
  pending: number;
  /** Version of the newest snapshot written or used. */
  snapshotVersion: number;
}

interface Submitted {
  append?: Promise<AppendResult>;
  state: VcpuState | undefined;
  version: number;
  result?: unknown;
}

/**
 * The only place that runs the decider against the store: load = latest valid snapshot +
 * fold of the rest; execute = decide against the current state (including appends pending in
 * the current group-commit batch), append with the version decided on, snapshot after commit.
 */
export class VcpuRepository {
  readonly snapshotEvery: number;
  private readonly cache: LruCache<Entry>;
  private readonly lock = new KeyedLock();
  private readonly inflightKeys = new Map<string, Promise<unknown>>();
  private readonly maxRetries: number;
  private readonly onSnapshotError: (e: unknown) => void;

  constructor(
    readonly store: EventStore,
    opts: RepositoryOptions = {},
  ) {
    this.snapshotEvery = opts.snapshotEvery ?? 100;
    this.cache = new LruCache<Entry>(opts.cacheSize ?? 10_000, (e) => e.pending > 0);
    this.maxRetries = opts.maxRetries ?? 20;
    this.onSnapshotError = opts.onSnapshotError ?? (() => undefined);
  }

  /** The vCPU at `version` (default: current), or undefined if it does not exist at that version. */
  async load(id: string, version?: number, opts: LoadOptions = {}): Promise<Loaded | undefined> {
    const current = await this.store.streamVersion(id);
    const target = version ?? current;
    if (current === 0 || target < 1 || target > current || !Number.isInteger(target)) return undefined;
    const e = opts.cache === false ? undefined : this.cache.peek(id);
    if (e && e.committed.version === target && e.committed.state) return { state: e.committed.state, version: target };
    const r = await this.fold(id, target, opts.snapshots !== false);
    if (target === current && opts.cache !== false && !this.cache.peek(id)) {
      this.cache.set(id, { committed: r, head: r, pending: 0, snapshotVersion: r.snapshotVersion });
    }
    return { state: r.state, version: target };
  }

  /** Registers whose value differs between two versions (from may be 0: before creation). */
  async diff(id: string, from: number, to: number): Promise<RegisterChange[] | undefined> {
    const b = await this.load(id, to);
    if (!b) return undefined;
    if (from === 0) {
      const a = b.state.arrays;
      return Array.from(a.cpregIndexes, (rid, i) => ({ id: rid, before: null, after: readValueAt(a, i) }));
    }
    const a = await this.load(id, from);
    return a ? diffStates(a.state, b.state) : undefined;
  }

  /** A page of the vCPU's events, from version `from` on. */
  history(id: string, from = 1, limit = 100): Promise<StoredEvent[]> {
    return this.store.readStream(id, from, undefined, limit);
  }

  async execute(id: string, command: VcpuCommand, opts: ExecuteOptions): Promise<ExecuteResult> {
    const idem = opts.idempotency;
    if (idem) {
      // A repeat arriving while the original is still in flight waits for its answer.
      await this.inflightKeys.get(idem.key)?.catch(() => undefined);
      const rec = await this.store.findIdempotency(idem.key);
      if (rec) return this.replay(id, rec, idem);
    }
    const run = this.attempts(id, command, opts);
    if (idem) {
      this.inflightKeys.set(idem.key, run);
      void run
        .catch(() => undefined)
        .then(() => {
          if (this.inflightKeys.get(idem.key) === run) this.inflightKeys.delete(idem.key);
        });
    }
    return run;
  }

  private async attempts(id: string, command: VcpuCommand, opts: ExecuteOptions): Promise<ExecuteResult> {
    for (let attempt = 0; ; attempt++) {
      const s = await this.lock.run(id, () => this.decideAndSubmit(id, command, opts));
      if (!s.append) {
        // decide answered no events (it never does for a missing vCPU: that is a refusal)
        if (!s.state) throw new CorruptHistoryError(`vCPU ${id}: a command decided nothing on a missing vCPU`);
        return { state: s.state, version: s.version, events: [], replayed: false };
      }
      try {
        const r = await s.append;
        if (r.replayed) return this.replay(id, r.record, opts.idempotency!);
        return { state: s.state!, version: r.version, events: r.events, replayed: false, result: s.result };
      } catch (e) {
        // Without If-Match a write never fails because another writer got there first.
        const retry = e instanceof ConcurrencyError && opts.expectedVersion === undefined && attempt < this.maxRetries;
        if (!retry) throw e;
      }
    }
  }

  /** Runs under the stream's lock: decide on the head state and queue the append (not awaited). */
  private async decideAndSubmit(id: string, command: VcpuCommand, opts: ExecuteOptions): Promise<Submitted> {
    const entry = await this.current(id);
    if (opts.expectedVersion !== undefined && opts.expectedVersion !== entry.head.version) {
      throw new ConcurrencyError(id, opts.expectedVersion, entry.head.version);
    }
    const before = entry.head.state;
    const events = decide(command, before);
    if (events.length === 0) return { state: before, version: entry.head.version };
    const state = foldEvents(before, events)!;
    const version = entry.head.version + events.length;
    const result = opts.resultOf?.({ state, version, events });
    const append = this.store.append({
      streamId: id,
      expectedVersion: entry.head.version,
      events: events.map(serializeEvent),
      metadata: opts.metadata,
      idempotency: opts.idempotency && { ...opts.idempotency, result },
      labels: !before || before.labels !== state.labels ? labelsOf(state) : undefined,
    });
    entry.head = { state, version };
    entry.pending++;
    // Settle the cache synchronously with the commit (before anyone else can decide).
    append.then(
      (r) => this.committed(id, entry, r, state, version),
      () => {
        entry.pending--;
        this.cache.deleteIf(id, entry);
      },
    );
    return { append, state, version, result };
  }

  private committed(id: string, entry: Entry, r: AppendResult, state: VcpuState, version: number): void {
    entry.pending--;
    if (r.replayed) {
      // Another request with this key won: what we decided was not appended.
      this.cache.deleteIf(id, entry);
      return;
    }
    if (version > entry.committed.version) entry.committed = { state, version };
    if (version - entry.snapshotVersion >= this.snapshotEvery) {
      entry.snapshotVersion = version;
      this.snapshotLater(id, version, state);
    }
  }

  /** After the answers of this batch went out: a snapshot is a cache and must not delay them. */
  private snapshotLater(id: string, version: number, state: VcpuState): void {
    setImmediate(() => {
      this.store.putSnapshot({ streamId: id, version, ...serializeState(state) }).catch(this.onSnapshotError);
    });
  }

  /** The cached entry, checked against the store's version when nothing of ours is in flight. */
  private async current(id: string): Promise<Entry> {
    const cached = this.cache.get(id);
    if (cached && cached.pending > 0) return cached;
    const version = await this.store.streamVersion(id);
    if (cached && cached.head.version === version) return cached;
    const fresh =
      version === 0 ? { state: undefined, version: 0, snapshotVersion: 0 } : await this.fold(id, version, true);
    const entry: Entry = { committed: fresh, head: fresh, pending: 0, snapshotVersion: fresh.snapshotVersion };
    this.cache.set(id, entry);
    return entry;
  }

  private async replay(
    id: string,
    rec: IdempotencyRecord,
    idem: { key: string; requestHash: string },
  ): Promise<ExecuteResult> {
    if (rec.requestHash !== idem.requestHash || rec.streamId !== id) throw new IdempotencyConflictError(idem.key);
    // The original may be committed but not yet synced: a repeat is answered from durable data only.
    await this.store.whenDurable();
    const loaded = await this.load(id, rec.toVersion);
    if (!loaded)
      throw new CorruptHistoryError(`idempotency key ${idem.key} points at ${id}@${rec.toVersion}, which is missing`);
    const events = await this.store.readStream(id, rec.fromVersion, rec.toVersion);
    return { state: loaded.state, version: rec.toVersion, events, replayed: true, result: rec.result };
  }

  /** Latest valid snapshot at or below `target` + fold of the events after it. */
  private async fold(id: string, target: number, useSnapshots: boolean) {
    let base: VcpuState | undefined;
    let from = 0;
    if (useSnapshots) {
      for (const s of await this.store.getSnapshots(id, target)) {
        try {
          base = deserializeState(s.schemaVersion, s.data);
          from = s.version;
          break;
        } catch {
          // unknown format or damaged payload: a cache miss, never an error
        }
      }
    }
    const payloads = await this.store.readPayloads(id, from + 1, target);
    const state = foldPayloads(base, payloads, from, target);
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
      const page = await this.store.listStreams({ after, limit: 1000 });
      for (const s of page.streams) {
        const payloads = await this.store.readPayloads(s.streamId, 1, s.version);
        foldPayloads(undefined, payloads, 0, s.version);
        streams++;
        events += payloads.length;
      }
      await new Promise((r) => setImmediate(r)); // let the service answer between pages
      after = page.next;
    } while (after);
    return { streams, events };
  }

  /** Forget every cached state (tests; after the database was changed behind our back). */
  clearCache(): void {
    this.cache.clear();
  }
}

function foldPayloads(
  base: VcpuState | undefined,
  payloads: EventPayload[],
  from: number,
  to: number,
): VcpuState | undefined {
  if (payloads.length !== to - from) {
    throw new CorruptHistoryError(`expected events ${from + 1}..${to}, found ${payloads.length}`);
  }
  for (let i = 0; i < payloads.length; i++) {
    const v = payloads[i][0];
    if (v !== from + i + 1) throw new CorruptHistoryError(`event version ${v} where ${from + i + 1} was expected`);
  }
  return foldSerialized(base, payloads);
}
