import { createHash } from 'node:crypto';
import { canonicalJson } from '../canonical';
import type { SnapshotInput, StoredSnapshot } from '../event-store';
import type { Db } from './open';

interface SnapshotRow {
  version: number;
  schema_version: number;
  data: string;
  event_hash: Buffer;
  checksum: Buffer;
  current_hash: Buffer | null;
}

function checksumOf(eventHash: Buffer, schemaVersion: number, dataText: string): Buffer {
  return createHash('sha256').update(eventHash).update(`${schemaVersion}\n`).update(dataText, 'utf8').digest();
}

/**
 * Snapshots are a cache. A row is handed out only if its checksum matches its bytes and the
 * event it claims to cover still has the hash it was folded from; anything else is skipped
 * (and the caller folds from an older snapshot or from the first event).
 */
export class Snapshots {
  private readonly stmts;
  /** Rows skipped as damaged or stale (tests read it). */
  skipped = 0;

  constructor(db: Db) {
    this.stmts = {
      eventHash: db.prepare<[string, number], { hash: Buffer }>(
        'SELECT hash FROM events WHERE stream_id = ? AND version = ?',
      ),
      put: db.prepare(
        `INSERT OR REPLACE INTO snapshots (stream_id, version, schema_version, data, event_hash, checksum, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      get: db.prepare<[string, number, number], SnapshotRow>(
        `SELECT s.version, s.schema_version, s.data, s.event_hash, s.checksum, e.hash AS current_hash
         FROM snapshots s LEFT JOIN events e ON e.stream_id = s.stream_id AND e.version = s.version
         WHERE s.stream_id = ? AND s.version <= ? ORDER BY s.version DESC LIMIT ?`,
      ),
    };
  }

  put(s: SnapshotInput): void {
    const ev = this.stmts.eventHash.get(s.streamId, s.version);
    if (!ev) throw new Error(`no event ${s.streamId}@${s.version} to snapshot`);
    const dataText = canonicalJson(s.data);
    const checksum = checksumOf(ev.hash, s.schemaVersion, dataText);
    this.stmts.put.run(s.streamId, s.version, s.schemaVersion, dataText, ev.hash, checksum, new Date().toISOString());
  }

  get(streamId: string, atOrBelow: number, limit = 3): StoredSnapshot[] {
    const out: StoredSnapshot[] = [];
    for (const r of this.stmts.get.all(streamId, atOrBelow, limit)) {
      const intact =
        r.current_hash !== null &&
        r.current_hash.equals(r.event_hash) &&
        checksumOf(r.event_hash, r.schema_version, r.data).equals(r.checksum);
      let data: unknown;
      try {
        data = intact ? JSON.parse(r.data) : undefined;
      } catch {
        data = undefined;
      }
      if (data === undefined) {
        this.skipped++;
        continue;
      }
      out.push({ streamId, version: r.version, schemaVersion: r.schema_version, data });
    }
    return out;
  }
}
