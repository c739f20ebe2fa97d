import type { IdempotencyRecord } from '../event-store';
import type { Db } from './open';

interface KeyRow {
  key: string;
  request_hash: string;
  stream_id: string;
  from_version: number;
  to_version: number;
  first_position: number;
  last_position: number;
  result: string | null;
}

/** Idempotency keys: read before deciding, written inside the append's transaction. */
export class IdempotencyKeys {
  private readonly select;
  private readonly insert;

  constructor(db: Db) {
    this.select = db.prepare<[string], KeyRow>('SELECT * FROM idempotency_keys WHERE key = ?');
    this.insert = db.prepare(
      `INSERT INTO idempotency_keys (key, request_hash, stream_id, from_version, to_version, first_position, last_position, result, created_at)
       VALUES (@key, @requestHash, @streamId, @fromVersion, @toVersion, @firstPosition, @lastPosition, @result, @createdAt)`,
    );
  }

  find(key: string): IdempotencyRecord | undefined {
    const r = this.select.get(key);
    if (!r) return undefined;
    return {
      key: r.key,
      requestHash: r.request_hash,
      streamId: r.stream_id,
      fromVersion: r.from_version,
      toVersion: r.to_version,
      firstPosition: r.first_position,
      lastPosition: r.last_position,
      ...(r.result === null ? {} : { resultText: r.result }),
    };
  }

  record(rec: IdempotencyRecord, createdAt: string): void {
    const { resultText, ...row } = rec;
    this.insert.run({ ...row, result: resultText ?? null, createdAt });
  }
}
