import Database from 'better-sqlite3';
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
import type { JsonPage } from '../event-json';
import { GroupCommitter } from '../group-commit';
import type { StoreObserver } from '../observer';
import type { SnapshotRejection, SnapshotSeal } from '../snapshot-seal';
import { WalSync } from './wal-sync';
import { Checkpointer, type CheckpointerOptions } from './checkpointer';
import { Appender } from './append';
import { IdempotencyKeys } from './idempotency';
import { loadMigrations, migrate, type Migration } from './migrate';
import { openDatabase, type Db } from './open';
import { Reader } from './read';
import { Snapshots } from './snapshots';
import { verifyChain } from './verify';

export interface SqliteStoreOptions {
  /** Database file (':memory:' for a throwaway store). */
  file: string;
  /** Migrations to apply (default: the SQL files of migrations/). */
  migrations?: readonly Migration[];
  migrationsDir?: string;
  /** How long a write waits for another process's lock before SQLITE_BUSY (default 5000). */
  busyTimeoutMs?: number;
  /** Most appends written in one group-commit transaction. */
  maxBatch?: number;
  /**
   * The key snapshots are sealed with (storage/snapshot-seal.ts): stores that share it share
   * snapshots. Default: one random key per process.
   */
  snapshotSeal?: SnapshotSeal;
  /** Told of every snapshot refused as tampered or stale (log it loudly: reads fold past it). */
  onSnapshotRejected?: (r: SnapshotRejection) => void;
  /** Told of batches, syncs and appended events (metrics). */
  observer?: StoreObserver;
  /** When the WAL is checkpointed off the event loop (checkpointer.ts; defaults for the service). */
  checkpoints?: CheckpointerOptions;
}

/** The better-sqlite3 event store: every call answers synchronously underneath. */
export class SqliteEventStore implements EventStore {
  readonly file: string;
  readonly db: Db;
  /** One file, one service process, as a rule (another process's write makes a command retry). */
  readonly sharedWriters = false;
  readonly schemaVersion: number;
  private readonly reader: Reader;
  private readonly keys: IdempotencyKeys;
  private readonly snapshots: Snapshots;
  private readonly appender: Appender;
  private readonly committer: GroupCommitter<AppendGroup, AppendGroupResult>;
  private closed = false;
  private readonly walSync: WalSync | undefined;
  private readonly checkpointer: Checkpointer | undefined;

  constructor(opts: SqliteStoreOptions) {
    this.file = opts.file;
    // Start-up waits as long as it must (another node migrating); writes later wait briefly.
    this.db = openDatabase(this.file, { busyTimeoutMs: 5000 });
    try {
      this.schemaVersion = migrate(this.db, opts.migrations ?? loadMigrations(opts.migrationsDir));
      if (this.file !== ':memory:') probeWritable(this.db, this.file);
      if (opts.busyTimeoutMs !== undefined) this.db.pragma(`busy_timeout = ${Math.floor(opts.busyTimeoutMs)}`);
    } catch (e) {
      this.db.close();
      throw e;
    }
    this.reader = new Reader(this.db);
    this.keys = new IdempotencyKeys(this.db);
    this.snapshots = new Snapshots(this.db, opts.snapshotSeal, opts.onSnapshotRejected);
    this.appender = new Appender(this.db, this.keys);
    // Commits skip the fsync (NORMAL); the WAL is synced off the event loop before any answer.
    this.walSync = this.file === ':memory:' ? undefined : new WalSync(this.file);
    if (this.walSync) this.db.pragma('synchronous = NORMAL');
    this.checkpointer = this.walSync && new Checkpointer(this.db, this.file, opts.checkpoints);
    const walSync = this.walSync;
    const checkpointer = this.checkpointer;
    const obs = opts.observer;
    this.committer = new GroupCommitter(
      (batch) => {
        obs?.batch(batch.length);
        const out = this.appender.runBatch(batch);
        checkpointer?.afterCommit();
        if (obs) obs.appended(out.reduce((n, o) => n + (o.ok && !o.value.replayed ? eventsOf(o.value) : 0), 0));
        return out;
      },
      opts.maxBatch ?? 1000,
      walSync &&
        (() => {
          const t0 = process.hrtime.bigint();
          return walSync.sync().then(() => obs?.durable(Number(process.hrtime.bigint() - t0) / 1e9));
        }),
      () => this.notifyCommit(),
    );
  }

  private readonly commitListeners = new Set<() => void>();

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

  /** Transactions committed by group commit, and snapshots skipped as damaged (tests, bench). */
  get stats() {
    return {
      batches: this.committer.batches,
      commits: this.appender.commits,
      snapshotsSkipped: this.snapshots.skipped,
      snapshotsForeign: this.snapshots.foreign,
      walSyncs: this.walSync?.syncs ?? 0,
      checkpoints: this.checkpointer?.stats ?? { asked: 0, ownCheckpoints: 0 },
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

  async streamVersion(streamId: string): Promise<number> {
    return this.reader.streamVersion(streamId);
  }

  async getStream(streamId: string): Promise<StreamInfo | undefined> {
    return this.reader.getStream(streamId);
  }

  async listStreams(query?: ListStreamsQuery): Promise<StreamPage> {
    return this.reader.listStreams(query);
  }

  async readStream(streamId: string, fromVersion?: number, toVersion?: number, limit?: number): Promise<StoredEvent[]> {
    return this.reader.readStream(streamId, fromVersion, toVersion, limit);
  }

  async readPayloads(streamId: string, fromVersion?: number, toVersion?: number): Promise<EventPayload[]> {
    return this.reader.readPayloads(streamId, fromVersion, toVersion);
  }

  async readAll(afterPosition: number, limit: number): Promise<FeedPage> {
    return this.reader.readAll(afterPosition, limit);
  }

  async readFeedRaw(afterPosition: number, limit: number, maxBytes: number): Promise<RawPage> {
    return this.reader.readFeedRaw(afterPosition, limit, maxBytes);
  }

  async readFeedJson(afterPosition: number, limit: number, maxBytes: number): Promise<JsonPage> {
    return this.reader.readFeedJson(afterPosition, limit, maxBytes);
  }

  async readStreamRaw(streamId: string, afterVersion: number, limit: number, maxBytes: number): Promise<RawPage> {
    return this.reader.readStreamRaw(streamId, afterVersion, limit, maxBytes);
  }

  async findIdempotency(key: string): Promise<IdempotencyRecord | undefined> {
    return this.keys.find(key);
  }

  async getSnapshots(streamId: string, atOrBelowVersion: number, limit?: number): Promise<StoredSnapshot[]> {
    return this.snapshots.get(streamId, atOrBelowVersion, limit);
  }

  async putSnapshot(snapshot: SnapshotInput): Promise<void> {
    this.snapshots.put(snapshot);
    this.checkpointer?.afterCommit(); // a commit of its own: the WAL grew
  }
  async snapshotRows(streamId: string): Promise<SnapshotListing[]> {
    return this.snapshots.all(streamId);
  }

  /**
   * Walks the chain on a connection of its own: a fresh page cache reads what is in the file
   * now, even if it was edited behind this process's back without SQLite's locking.
   */
  async verify(anchor?: VerifyAnchor): Promise<VerifyReport> {
    const own = new Database(this.file, { fileMustExist: true, timeout: 5000 });
    try {
      own.pragma('query_only = ON');
      return await verifyChain(own, anchor);
    } finally {
      own.close();
    }
  }

  /** Resolves once everything committed so far is on disk (answers from stored data wait for it). */
  whenDurable(): Promise<void> {
    return this.walSync?.whenDurable() ?? Promise.resolve();
  }

  /** Writes whatever is queued, then closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.committer.flush();
    this.closed = true;
    await this.walSync?.close();
    await this.checkpointer?.close();
    this.db.close();
  }
}

/** A store it cannot write is refused at start, not discovered by every write after it. */
function probeWritable(db: Db, file: string): void {
  try {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec('CREATE TABLE cpreg_write_probe (x INTEGER)');
    } finally {
      db.exec('ROLLBACK');
    }
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new StorageUnwritableError(`cannot write the database ${file}: ${why}`);
  }
}

const eventsOf = (r: { streams: Array<{ events: unknown[] }> }) => r.streams.reduce((n, s) => n + s.events.length, 0);
