import type { SnapshotInput, SnapshotListing, StoredSnapshot } from '../event-store';
import {
  SnapshotSeal,
  snapshotRecord,
  snapshotListing,
  usableSnapshots,
  type SnapshotRejection,
  type SnapshotRow,
} from '../snapshot-seal';
import type { Db } from './open';

/**
 * Snapshots are a cache. A row is handed out only if its seal holds (storage/snapshot-seal.ts)
 * and the event it claims to cover still has the hash it was folded from; anything else is
 * skipped (and the caller folds from an older snapshot or from the first event).
 */
export class Snapshots {
  private readonly stmts;
  /** Rows skipped as damaged or stale (tests read it). */
  skipped = 0;
  /** Rows sealed under another key (another process without a shared key): passed over. */
  foreign = 0;

  constructor(
    db: Db,
    private readonly seal: SnapshotSeal = new SnapshotSeal(),
    private readonly onReject: (r: SnapshotRejection) => void = () => undefined,
  ) {
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
      all: db.prepare<[string], SnapshotRow>(
        `SELECT s.version, s.schema_version, s.data, s.event_hash, s.checksum, e.hash AS current_hash
         FROM snapshots s LEFT JOIN events e ON e.stream_id = s.stream_id AND e.version = s.version
         WHERE s.stream_id = ? ORDER BY s.version`,
      ),
    };
  }

  put(s: SnapshotInput): void {
    const ev = this.stmts.eventHash.get(s.streamId, s.version);
    if (!ev) throw new Error(`no event ${s.streamId}@${s.version} to snapshot`);
    const { dataText, checksum } = snapshotRecord(this.seal, s, ev.hash);
    this.stmts.put.run(s.streamId, s.version, s.schemaVersion, dataText, ev.hash, checksum, new Date().toISOString());
  }

  get(streamId: string, atOrBelow: number, limit = 3): StoredSnapshot[] {
    const rows = this.stmts.get.all(streamId, atOrBelow, limit);
    return usableSnapshots(this.seal, streamId, rows, this.onReject, this);
  }

  all(streamId: string): SnapshotListing[] {
    return snapshotListing(this.seal, streamId, this.stmts.all.all(streamId));
  }
}
