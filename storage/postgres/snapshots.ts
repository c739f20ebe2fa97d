import type { SnapshotInput, SnapshotListing, StoredSnapshot } from '../event-store';
import {
  SnapshotSeal,
  snapshotRecord,
  snapshotListing,
  usableSnapshots,
  type SnapshotRejection,
  type SnapshotRow,
} from '../snapshot-seal';
import type { PgDb } from './db';

/**
 * Snapshots are a cache, bound to the hash of the event they cover and sealed as the SQLite
 * store's are (storage/snapshot-seal.ts). A row is handed out only if its seal holds and that
 * event still has that hash; anything else is skipped. A snapshot written by any node holding
 * the same key is valid for every such node: it is a fold of committed events, checked against
 * them on every read.
 */
export class PgSnapshots {
  /** Rows skipped as damaged or stale (tests read it). */
  skipped = 0;
  /** Rows sealed under another key (a node without the shared key): passed over. */
  foreign = 0;

  constructor(
    private readonly db: PgDb,
    private readonly seal: SnapshotSeal = new SnapshotSeal(),
    private readonly onReject: (r: SnapshotRejection) => void = () => undefined,
  ) {}

  async put(s: SnapshotInput): Promise<void> {
    await this.db.with(async (c) => {
      const ev = await c.query<{ hash: Buffer }>('SELECT hash FROM events WHERE stream_id = $1 AND version = $2', [
        s.streamId,
        s.version,
      ]);
      const hash = ev.rows[0]?.hash;
      if (!hash) throw new Error(`no event ${s.streamId}@${s.version} to snapshot`);
      const { dataText, checksum } = snapshotRecord(this.seal, s, hash);
      await c.query(
        `INSERT INTO snapshots (stream_id, version, schema_version, data, event_hash, checksum, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (stream_id, version) DO UPDATE SET schema_version = excluded.schema_version, data = excluded.data,
           event_hash = excluded.event_hash, checksum = excluded.checksum, created_at = excluded.created_at`,
        [s.streamId, s.version, s.schemaVersion, dataText, hash, checksum, new Date().toISOString()],
      );
    });
  }

  async get(streamId: string, atOrBelow: number, limit = 3): Promise<StoredSnapshot[]> {
    const rows = await this.db.objects<SnapshotRow>(
      `SELECT s.version, s.schema_version, s.data, s.event_hash, s.checksum, e.hash AS current_hash
       FROM snapshots s LEFT JOIN events e ON e.stream_id = s.stream_id AND e.version = s.version
       WHERE s.stream_id = $1 AND s.version <= $2 ORDER BY s.version DESC LIMIT $3`,
      [streamId, atOrBelow, limit],
    );
    return usableSnapshots(this.seal, streamId, rows, this.onReject, this);
  }

  async all(streamId: string): Promise<SnapshotListing[]> {
    const rows = await this.db.objects<SnapshotRow>(
      `SELECT s.version, s.schema_version, s.data, s.event_hash, s.checksum, e.hash AS current_hash
       FROM snapshots s LEFT JOIN events e ON e.stream_id = s.stream_id AND e.version = s.version
       WHERE s.stream_id = $1 ORDER BY s.version`,
      [streamId],
    );
    return snapshotListing(this.seal, streamId, rows);
  }
}
