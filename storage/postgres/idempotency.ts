import type { IdempotencyRecord } from '../event-store';
import type { PgDb } from './db';

export interface KeyRow {
  key: string;
  request_hash: string;
  stream_id: string;
  from_version: number;
  to_version: number;
  first_position: number;
  last_position: number;
  result: string | null;
}

export const KEY_COLUMNS =
  'key, request_hash, stream_id, from_version, to_version, first_position, last_position, result';

export function toRecord(r: KeyRow): IdempotencyRecord {
  return {
    key: r.key,
    requestHash: r.request_hash,
    streamId: r.stream_id,
    fromVersion: Number(r.from_version),
    toVersion: Number(r.to_version),
    firstPosition: Number(r.first_position),
    lastPosition: Number(r.last_position),
    ...(r.result === null ? {} : { resultText: r.result }),
  };
}

/** Looks a key up before deciding; the key is enforced and recorded inside the append (append.ts). */
export async function findKey(db: PgDb, key: string): Promise<IdempotencyRecord | undefined> {
  const [r] = await db.objects<KeyRow>(`SELECT ${KEY_COLUMNS} FROM idempotency_keys WHERE key = $1`, [key]);
  return r ? toRecord(r) : undefined;
}
