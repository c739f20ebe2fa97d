import { canonicalEventText, canonicalJson, chainHash, GENESIS_HASH } from '../canonical';
import {
  ConcurrencyError,
  IdempotencyConflictError,
  type AppendGroup,
  type AppendGroupResult,
  type ExpectedVersion,
  type MetadataInput,
  type StoredEvent,
  type StreamAppend,
  type StreamAppended,
} from '../event-store';
import type { Outcome } from '../group-commit';
import { IdempotencyKeys } from './idempotency';
import type { Db } from './open';

interface Head {
  /** Highest position ever given (sqlite_sequence), so a deleted tail is never reused. */
  position: number;
  hash: Buffer;
}

const MAX_STREAM_ID = 256;

/**
 * Writes batches of append groups: one BEGIN IMMEDIATE transaction per batch, COMMIT; a
 * conflicting group fails alone, all of its streams with it. Every check of a group (its key,
 * its streams' versions and kinds) runs before any of its writes, so a group that fails a check
 * has written nothing and needs no SAVEPOINT. Should a write itself fail (the disk, a constraint),
 * the batch is rolled back and run again with one SAVEPOINT per group, which then fails that
 * group alone. The commit does not fsync (synchronous=NORMAL): the store syncs the WAL before
 * anyone is answered.
 */
export class Appender {
  private readonly stmts;
  /** Committed transactions (for tests and the bench). */
  commits = 0;

  constructor(
    private readonly db: Db,
    private readonly keys: IdempotencyKeys,
  ) {
    this.stmts = {
      seq: db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'events'"),
      last: db.prepare<[], { position: number; hash: Buffer }>(
        'SELECT position, hash FROM events ORDER BY position DESC LIMIT 1',
      ),
      // The version is the log's head (one seek in UNIQUE (stream_id, version)), not
      // streams.version, which a raw edit could lower: the next append would then collide with
      // the newest event's version (a 500) instead of continuing after it.
      stream: db.prepare<[string], { version: number; kind: string }>(
        'SELECT COALESCE((SELECT MAX(version) FROM events e WHERE e.stream_id = s.stream_id), 0) AS version, kind FROM streams s WHERE s.stream_id = ?',
      ),
      createStream: db.prepare(
        // A streams row left without events (by a raw edit: the log is the truth) is taken over.
        'INSERT INTO streams (stream_id, version, created_at, updated_at, labels, kind) VALUES (?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at, ' +
          'labels = excluded.labels, kind = excluded.kind',
      ),
      clearLabels: db.prepare('DELETE FROM stream_labels WHERE stream_id = ?'),
      addLabel: db.prepare('INSERT INTO stream_labels (stream_id, key, value) VALUES (?, ?, ?)'),
      updateStream: db.prepare(
        'UPDATE streams SET version = ?, updated_at = ?, labels = COALESCE(?, labels) WHERE stream_id = ?',
      ),
      insert: db.prepare(
        'INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      // prepared once: db.exec would parse them again for every batch
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      savepoint: db.prepare('SAVEPOINT one_group'),
      release: db.prepare('RELEASE one_group'),
      rollbackTo: db.prepare('ROLLBACK TO one_group'),
    };
  }

  runBatch(groups: readonly AppendGroup[]): Outcome<AppendGroupResult>[] {
    const now = new Date().toISOString();
    return this.transaction(groups, now, false) ?? this.transaction(groups, now, true)!;
  }

  /**
   * One transaction over the batch. Without savepoints, a write that fails after its group's
   * checks passed answers undefined (all rolled back: run it again with them).
   */
  private transaction(
    groups: readonly AppendGroup[],
    now: string,
    savepoints: boolean,
  ): Outcome<AppendGroupResult>[] | undefined {
    const out: Outcome<AppendGroupResult>[] = [];
    this.stmts.begin.run();
    try {
      let head = this.head();
      for (const group of groups) {
        if (savepoints) this.stmts.savepoint.run();
        try {
          const { result, newHead } = this.appendGroup(group, head, now);
          if (savepoints) this.stmts.release.run();
          head = newHead;
          out.push({ ok: true, value: result });
        } catch (error) {
          if (savepoints) {
            this.stmts.rollbackTo.run();
            this.stmts.release.run();
          } else if (!(error instanceof CheckFailed)) {
            this.db.exec('ROLLBACK');
            return undefined;
          }
          out.push({ ok: false, error: error instanceof CheckFailed ? error.reason : error });
        }
      }
      this.stmts.commit.run();
      this.commits++;
    } catch (e) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw e;
    }
    return out;
  }

  private head(): Head {
    const last = this.stmts.last.get();
    const seq = this.stmts.seq.get()?.seq ?? 0;
    return { position: Math.max(seq, last?.position ?? 0), hash: last?.hash ?? GENESIS_HASH };
  }

  private appendGroup(group: AppendGroup, head: Head, now: string): { result: AppendGroupResult; newHead: Head } {
    const idem = group.idempotency;
    // Every check, before any write (a failed check throws CheckFailed: nothing to undo).
    let actuals: number[];
    try {
      if (idem) {
        // The one place a key is enforced: inside the transaction that would record it.
        const rec = this.keys.find(idem.key);
        if (rec) {
          if (rec.requestHash !== idem.requestHash) throw new IdempotencyConflictError(idem.key);
          return { result: { replayed: true, record: rec }, newHead: head };
        }
      }
      if (group.appends.length === 0) throw new TypeError('an append group needs at least one stream');
      actuals = this.check(group.appends);
    } catch (e) {
      throw new CheckFailed(e);
    }
    const metadataText = canonicalJson({ ...group.metadata, recordedAt: now });
    const streams: StreamAppended[] = [];
    const firstPosition = head.position + 1;
    let h = head;
    for (let k = 0; k < group.appends.length; k++) {
      // actuals[k] is the version of appends[k] (check answers one per append)
      const r = this.appendStream(group.appends[k]!, actuals[k]!, h, now, metadataText);
      streams.push(r.appended);
      h = r.head;
    }
    if (idem) {
      const first = streams[0]!;
      const firstVersion = first.events[0]?.version ?? first.version + 1;
      this.keys.record(
        {
          key: idem.key,
          requestHash: idem.requestHash,
          streamId: first.streamId,
          fromVersion: firstVersion,
          toVersion: first.version,
          firstPosition,
          lastPosition: h.position,
          ...(idem.resultText === undefined ? {} : { resultText: idem.resultText }),
        },
        now,
      );
    }
    return { result: { replayed: false, streams }, newHead: h };
  }

  /** The checks of a group's streams (ids, repeats, expected versions, kinds): each one's version. */
  private check(appends: readonly StreamAppend[]): number[] {
    const actuals: number[] = [];
    const seen = new Set<string>();
    for (const a of appends) {
      const { streamId } = a;
      if (typeof streamId !== 'string' || streamId.length === 0 || streamId.length > MAX_STREAM_ID) {
        throw new TypeError(`stream id must be a string of 1..${MAX_STREAM_ID} characters`);
      }
      if (seen.has(streamId)) throw new TypeError(`stream ${streamId} appears twice in one group`);
      seen.add(streamId);
      const row = this.stmts.stream.get(streamId);
      const actual = row?.version ?? 0;
      checkExpected(streamId, a.expectedVersion, actual);
      const kind = a.kind ?? 'vcpu';
      if (row && a.events.length > 0 && row.kind !== kind)
        throw new TypeError(`stream ${streamId} is a ${row.kind}, not a ${kind}`);
      actuals.push(actual);
    }
    return actuals;
  }

  private appendStream(
    req: StreamAppend,
    actual: number,
    head: Head,
    now: string,
    metadataText: string,
  ): { appended: StreamAppended; head: Head } {
    const { streamId } = req;
    if (req.events.length === 0) return { appended: { streamId, version: actual, events: [] }, head };

    const version = actual + req.events.length;
    const labelsText = req.labels ? canonicalJson(req.labels) : null;
    const kind = req.kind ?? 'vcpu';
    if (actual > 0) this.stmts.updateStream.run(version, now, labelsText, streamId);
    else this.stmts.createStream.run(streamId, version, now, now, labelsText ?? '{}', kind);
    if (req.labels) {
      this.stmts.clearLabels.run(streamId);
      for (const [k, v] of Object.entries(req.labels)) this.stmts.addLabel.run(streamId, k, v);
    }

    const stored: StoredEvent[] = [];
    let { position, hash } = head;
    for (let k = 0; k < req.events.length; k++) {
      const e = req.events[k]!;
      position++;
      const v = actual + k + 1;
      const dataText = e.dataText ?? canonicalJson(e.data);
      const text = canonicalEventText({
        position,
        streamId,
        version: v,
        type: e.type,
        schemaVersion: e.schemaVersion,
        dataText,
        metadataText,
      });
      hash = chainHash(hash, text);
      this.stmts.insert.run(position, streamId, v, e.type, e.schemaVersion, dataText, metadataText, hash);
      stored.push(new AppendedEvent(position, streamId, v, e.type, e.schemaVersion, dataText, metadataText, hash));
    }
    return { appended: { streamId, version, events: stored }, head: { position, hash } };
  }
}

/** A group's check failed before it wrote anything (the error it failed with is `reason`). */
class CheckFailed extends Error {
  constructor(readonly reason: unknown) {
    super('append check failed');
  }
}

/**
 * The appended event as the store answers it. Its data and metadata are parsed from the stored
 * text only when someone reads them (a write path answers from the decided events, not these);
 * a class, not an object literal with accessors, which costs a microsecond per event to make.
 * JSON.stringify gives the plain event (toJSON).
 */
class AppendedEvent implements StoredEvent {
  #data: unknown;
  #metadata: (MetadataInput & { recordedAt: string }) | undefined;
  #hash: string | undefined;
  constructor(
    readonly position: number,
    readonly streamId: string,
    readonly version: number,
    readonly type: string,
    readonly schemaVersion: number,
    private readonly dataText: string,
    private readonly metadataText: string,
    private readonly hashBytes: Buffer,
  ) {}
  get data(): unknown {
    return this.#data === undefined ? (this.#data = JSON.parse(this.dataText)) : this.#data;
  }
  get metadata(): MetadataInput & { recordedAt: string } {
    return (this.#metadata ??= JSON.parse(this.metadataText) as MetadataInput & { recordedAt: string });
  }
  get hash(): string {
    return (this.#hash ??= this.hashBytes.toString('hex'));
  }
  toJSON(): StoredEvent {
    const { position, streamId, version, type, schemaVersion, data, metadata, hash } = this;
    return { position, streamId, version, type, schemaVersion, data, metadata, hash };
  }
}

function checkExpected(streamId: string, expected: ExpectedVersion, actual: number): void {
  if (expected === 'any') return;
  const want = expected === 'no-stream' ? 0 : expected;
  if (typeof want !== 'number' || !Number.isInteger(want) || want < 0) {
    throw new TypeError(`expected version must be 'any', 'no-stream' or a version ≥ 0`);
  }
  if (want !== actual) throw new ConcurrencyError(streamId, expected, actual);
}
