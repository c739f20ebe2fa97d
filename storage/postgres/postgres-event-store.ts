import { randomUUID } from 'node:crypto';
import * as pg from 'pg';
import type {
  AppendGroup,
  AppendGroupResult,
  AppendRequest,
  AppendResult,
  EventPayload,
  EventStore,
  FeedPage,
  IdempotencyRecord,
  ListStreamsQuery,
  RawPage,
  SnapshotInput,
  SnapshotListing,
  StoredEvent,
  StoredSnapshot,
  StreamInfo,
  StreamPage,
  VerifyAnchor,
  VerifyReport,
} from '../event-store';
import { StorageUnwritableError } from '../event-store';
import type { StoreObserver } from '../observer';
import type { SnapshotRejection, SnapshotSeal } from '../snapshot-seal';
import type { Migration } from '../sqlite/migrate';
import { PgAppender } from './append';
import { AsyncGroupCommitter } from './batcher';
import { PgDb, type PgDbOptions } from './db';
import { isUnavailable, mapPgError } from './errors';
import { findKey } from './idempotency';
import { loadPgMigrations, migratePg } from './migrate';
import { CommitNotifications } from './notify';
import { PgReader } from './read';
import { PgSnapshots } from './snapshots';
import { verifyChain } from './verify';

export interface PostgresStoreOptions extends PgDbOptions {
  /** Migrations to apply (default: the SQL files of migrations/postgres/). */
  migrations?: readonly Migration[];
  /** The folder of the PostgreSQL NNN_name.sql files (default: migrations/postgres/ beside the code). */
  migrationsDir?: string;
  /** Most append groups written in one transaction (default 1000). */
  maxBatch?: number;
  /** How long a batch waits for the callers of the last one to come back (default 2 ms; batcher.ts). */
  lingerMs?: number;
  /** How long open() keeps trying to reach a server that is not up yet (default 30000 ms). */
  startTimeoutMs?: number;
  /** Errors the store survives by itself (idle connections lost, LISTEN reconnecting): for logs. */
  onError?: (e: Error) => void;
  /**
   * The key snapshots are sealed with (storage/snapshot-seal.ts): stores that share it share
   * snapshots. Default: one random key per process.
   */
  snapshotSeal?: SnapshotSeal;
  /** Told of every snapshot refused as tampered or stale (log it loudly: reads fold past it). */
  onSnapshotRejected?: (r: SnapshotRejection) => void;
  /** Told of batches, commit latency and appended events (metrics). */
  observer?: StoreObserver;
  /**
   * How long a batch that met a version conflict keeps the head lock for the losers' retries
   * (default 20 ms; 0: not at all). See append.ts.
   */
  conflictHoldMs?: number;
}

/**
 * The PostgreSQL event store: the same contract as the SQLite one (storage/event-store.ts),
 * for several service nodes over one database. Appends are batched per node (group commit) and
 * ordered across nodes by the event_head row lock (append.ts); commits are durable when they
 * return (synchronous_commit on); every node's feed is woken by LISTEN/NOTIFY (notify.ts).
 * A lost server shows as DatabaseUnavailableError (code: SQLSTATE or errno) and the pool
 * recovers by itself once the server is back.
 */
export class PostgresEventStore implements EventStore {
  readonly nodeId = `${process.pid}-${randomUUID().slice(0, 8)}`;
  /** Several nodes write one database: a command checks the version before deciding on its cache. */
  readonly sharedWriters = true;
  private readonly db: PgDb;
  private readonly reader: PgReader;
  private readonly snapshots: PgSnapshots;
  private readonly appender: PgAppender;
  private readonly committer: AsyncGroupCommitter<AppendGroup, AppendGroupResult>;
  private readonly notifications: CommitNotifications;
  private readonly commitListeners = new Set<() => void>();
  private closed = false;

  /** Connects, migrates (under an advisory lock), starts listening for commits. */
  static async open(opts: PostgresStoreOptions): Promise<PostgresEventStore> {
    const migrations = opts.migrations ?? loadPgMigrations(opts.migrationsDir);
    const schemaVersion = await untilReachable(opts.startTimeoutMs ?? 30_000, async () => {
      const c = new pg.Client({ connectionString: opts.url, application_name: 'cpreg-ledger migrate' });
      c.on('error', () => undefined); // a failure shows in the query that meets it
      await c.connect();
      try {
        const v = await migratePg(c, migrations);
        const ro = await c.query<{ ro: string }>('SHOW transaction_read_only');
        if (ro.rows[0]?.ro === 'on') throw new StorageUnwritableError('the database is read-only (a standby?)');
        return v;
      } finally {
        await c.end().catch(() => undefined);
      }
    });
    const store = new PostgresEventStore(opts, schemaVersion);
    await store.notifications.start();
    return store;
  }

  private constructor(
    opts: PostgresStoreOptions,
    readonly schemaVersion: number,
  ) {
    this.db = new PgDb({ ...opts, ...(opts.onError ? { onIdleError: opts.onError } : {}) });
    this.reader = new PgReader(this.db);
    this.snapshots = new PgSnapshots(this.db, opts.snapshotSeal, opts.onSnapshotRejected);
    this.appender = new PgAppender(this.db, this.nodeId);
    if (opts.conflictHoldMs !== undefined) this.appender.conflictHoldMs = opts.conflictHoldMs;
    const obs = opts.observer;
    this.committer = new AsyncGroupCommitter(
      async (batch, hooks) => {
        obs?.batch(batch.length);
        const t0 = process.hrtime.bigint();
        const out = await this.appender.runBatch(batch, hooks);
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        if (obs) {
          obs.durable(seconds); // COMMIT returned: flushed
          obs.appended(out.reduce((n, o) => n + (o.ok && !o.value.replayed ? eventsOf(o.value) : 0), 0));
        }
        return out;
      },
      opts.maxBatch ?? 1000,
      () => this.notifyCommit(),
      opts.lingerMs ?? 2,
    );
    this.notifications = new CommitNotifications(opts.url, this.nodeId, () => this.notifyCommit(), opts.onError);
  }

  /** Calls `listener` after each commit of this node, and after each NOTIFY of another node's. */
  onCommit(listener: () => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  private notifyCommit(): void {
    for (const l of this.commitListeners) {
      try {
        l();
      } catch {
        // a listener's failure is its own
      }
    }
  }

  /** Batches and transactions so far, snapshots skipped, LISTEN state (tests, bench). */
  get stats() {
    return {
      batches: this.committer.batches,
      commits: this.appender.commits,
      snapshotsSkipped: this.snapshots.skipped,
      snapshotsForeign: this.snapshots.foreign,
      notificationsReceived: this.notifications.received,
      listening: this.notifications.listening,
    };
  }

  async append(request: AppendRequest): Promise<AppendResult> {
    const { metadata, idempotency, ...one } = request;
    const r = await this.appendGroup({ appends: [one], metadata, ...(idempotency ? { idempotency } : {}) });
    if (r.replayed)
      return { replayed: true, streamId: request.streamId, version: r.record.toVersion, events: [], record: r.record };
    const s = r.streams[0]!;
    return { replayed: false, streamId: s.streamId, version: s.version, events: s.events };
  }

  appendGroup(group: AppendGroup): Promise<AppendGroupResult> {
    if (this.closed) return Promise.reject(new Error('event store is closed'));
    return this.committer.submit(group);
  }

  streamVersion(streamId: string): Promise<number> {
    return this.reader.streamVersion(streamId);
  }

  getStream(streamId: string): Promise<StreamInfo | undefined> {
    return this.reader.getStream(streamId);
  }

  listStreams(query?: ListStreamsQuery): Promise<StreamPage> {
    return this.reader.listStreams(query);
  }

  readStream(streamId: string, fromVersion?: number, toVersion?: number, limit?: number): Promise<StoredEvent[]> {
    return this.reader.readStream(streamId, fromVersion, toVersion, limit);
  }

  readPayloads(streamId: string, fromVersion?: number, toVersion?: number): Promise<EventPayload[]> {
    return this.reader.readPayloads(streamId, fromVersion, toVersion);
  }

  readAll(afterPosition: number, limit: number): Promise<FeedPage> {
    return this.reader.readAll(afterPosition, limit);
  }

  readFeedRaw(afterPosition: number, limit: number, maxBytes: number): Promise<RawPage> {
    return this.reader.readFeedRaw(afterPosition, limit, maxBytes);
  }

  readStreamRaw(streamId: string, afterVersion: number, limit: number, maxBytes: number): Promise<RawPage> {
    return this.reader.readStreamRaw(streamId, afterVersion, limit, maxBytes);
  }

  findIdempotency(key: string): Promise<IdempotencyRecord | undefined> {
    return findKey(this.db, key);
  }

  getSnapshots(streamId: string, atOrBelowVersion: number, limit?: number): Promise<StoredSnapshot[]> {
    return this.snapshots.get(streamId, atOrBelowVersion, limit);
  }

  putSnapshot(snapshot: SnapshotInput): Promise<void> {
    return this.snapshots.put(snapshot);
  }

  snapshotRows(streamId: string): Promise<SnapshotListing[]> {
    return this.snapshots.all(streamId);
  }

  /** Walks the chain in one REPEATABLE READ transaction: one moment, while every node appends. */
  verify(anchor?: VerifyAnchor): Promise<VerifyReport> {
    return verifyChain(this.db, anchor);
  }

  /**
   * A commit is durable when it returns (synchronous_commit on: the WAL is flushed first), and
   * no other session sees it before: whatever was acknowledged or can be read is on disk.
   */
  whenDurable(): Promise<void> {
    return Promise.resolve();
  }

  /** Raw SQL on the store's pool (tests that edit rows behind the store's back, the copy). */
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
    return this.db.objects<T>(text, values, false);
  }

  /** Runs `fn` on one connection of the store's pool (the copy's single transaction). */
  withConnection<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.db.with(fn, false);
  }

  /** Writes whatever is queued, then closes the pool and the LISTEN connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.committer.flush();
    await this.notifications.close();
    await this.db.end();
  }
}

/** Runs `fn`, again every 200 ms while the server cannot be reached, for at most `ms`. */
async function untilReachable<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!isUnavailable(e) || Date.now() > deadline) throw mapPgError(e);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

const eventsOf = (r: { streams: Array<{ events: unknown[] }> }) => r.streams.reduce((n, s) => n + s.events.length, 0);
