import { canonicalEventText, canonicalJson, chainHash, GENESIS_HASH } from '../canonical';
import {
  ConcurrencyError,
  IdempotencyConflictError,
  type AppendRequest,
  type AppendResult,
  type ExpectedVersion,
  type StoredEvent,
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
 * Writes batches of appends: one BEGIN IMMEDIATE transaction per batch, each append in its own
 * SAVEPOINT (a conflicting append fails alone), COMMIT — with synchronous=FULL, the WAL is
 * synced — before the caller answers anyone.
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
      stream: db.prepare<[string], { version: number }>('SELECT version FROM streams WHERE stream_id = ?'),
      createStream: db.prepare(
        'INSERT INTO streams (stream_id, version, created_at, updated_at, labels) VALUES (?, ?, ?, ?, ?)',
      ),
      updateStream: db.prepare(
        'UPDATE streams SET version = ?, updated_at = ?, labels = COALESCE(?, labels) WHERE stream_id = ?',
      ),
      insert: db.prepare(
        'INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      savepoint: db.prepare('SAVEPOINT one_append'),
      release: db.prepare('RELEASE one_append'),
      rollbackTo: db.prepare('ROLLBACK TO one_append'),
    };
  }

  runBatch(requests: readonly AppendRequest[]): Outcome<AppendResult>[] {
    const out: Outcome<AppendResult>[] = [];
    this.db.exec('BEGIN IMMEDIATE');
    try {
      let head = this.head();
      const now = new Date().toISOString();
      for (const req of requests) {
        this.stmts.savepoint.run();
        try {
          const { result, newHead } = this.appendOne(req, head, now);
          this.stmts.release.run();
          head = newHead;
          out.push({ ok: true, value: result });
        } catch (error) {
          this.stmts.rollbackTo.run();
          this.stmts.release.run();
          out.push({ ok: false, error });
        }
      }
      this.db.exec('COMMIT');
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

  private appendOne(req: AppendRequest, head: Head, now: string): { result: AppendResult; newHead: Head } {
    const { streamId } = req;
    if (typeof streamId !== 'string' || streamId.length === 0 || streamId.length > MAX_STREAM_ID) {
      throw new TypeError(`stream id must be a string of 1..${MAX_STREAM_ID} characters`);
    }
    if (req.idempotency) {
      const rec = this.keys.find(req.idempotency.key);
      if (rec) {
        if (rec.requestHash !== req.idempotency.requestHash || rec.streamId !== streamId) {
          throw new IdempotencyConflictError(req.idempotency.key);
        }
        return { result: { replayed: true, streamId, version: rec.toVersion, events: [], record: rec }, newHead: head };
      }
    }
    const row = this.stmts.stream.get(streamId);
    const actual = row?.version ?? 0;
    checkExpected(streamId, req.expectedVersion, actual);
    if (req.events.length === 0) {
      return { result: { replayed: false, streamId, version: actual, events: [] }, newHead: head };
    }

    const version = actual + req.events.length;
    const labelsText = req.labels ? canonicalJson(req.labels) : null;
    if (row) this.stmts.updateStream.run(version, now, labelsText, streamId);
    else this.stmts.createStream.run(streamId, version, now, now, labelsText ?? '{}');

    const metadata = { ...req.metadata, recordedAt: now };
    const metadataText = canonicalJson(metadata);
    const stored: StoredEvent[] = [];
    let { position, hash } = head;
    for (let k = 0; k < req.events.length; k++) {
      const e = req.events[k];
      position++;
      const v = actual + k + 1;
      const dataText = canonicalJson(e.data);
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
      stored.push({
        position,
        streamId,
        version: v,
        type: e.type,
        schemaVersion: e.schemaVersion,
        data: JSON.parse(dataText),
        metadata: JSON.parse(metadataText),
        hash: hash.toString('hex'),
      });
    }
    if (req.idempotency) {
      const { key, requestHash, result } = req.idempotency;
      this.keys.record(
        {
          key,
          requestHash,
          streamId,
          fromVersion: actual + 1,
          toVersion: version,
          firstPosition: stored[0].position,
          lastPosition: position,
        },
        result === undefined ? null : canonicalJson(result),
        now,
      );
    }
    return { result: { replayed: false, streamId, version, events: stored }, newHead: { position, hash } };
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
