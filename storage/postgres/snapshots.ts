import { createHash } from 'node:crypto';
import { canonicalJson } from '../canonical';
import type { SnapshotInput, StoredSnapshot } from '../event-store';
import type { PgDb } from './db';

interface SnapshotRow {
  version: number;
  schema_version: number;
  data: string;
  event_hash: Buffer;
  checksum: Buffer;
  current_hash: Buffer | null;
}

/** sha256(event_hash || "<schemaVersion>\n" || data): the same bytes as the SQLite store's. */
function checksumOf(eventHash: Buffer, schemaVersion: number, dataText: string): Buffer {
  return createHash('sha256').update(eventHash).update(`${schemaVersion}\n`).update(dataText, 'utf8').digest();
}

/**
 * Snapshots are a cache, bound to the hash of the event they cover. A row is handed out only if
 * its checksum matches and that event still has that hash; anything else is skipped. A snapshot
 * written by any node is valid for every node: it is a fold of committed events, checked
 * against them on every read.
 */
export class PgSnapshots {
  /** Rows skipped as damaged or stale (tests read it). */
  skipped = 0;

  constructor(private readonly db: PgDb) {}

  async put(s: SnapshotInput): Promise<void> {
    const dataText = canonicalJson(s.data);
    await this.db.with(async (c) => {
      const ev = await c.query<{ hash: Buffer }>('SELECT hash FROM events WHERE stream_id = $1 AND version = $2', [
        s.streamId,
        s.version,
      ]);
      const hash = ev.rows[0]?.hash;
      if (!hash) throw new Error(`no event ${s.streamId}@${s.version} to snapshot`);
      const checksum = checksumOf(hash, s.schemaVersion, dataText);
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
    const out: StoredSnapshot[] = [];
    for (const r of rows) {
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
