import { canonicalEventText, chainHash, GENESIS_HASH } from '../canonical';
import type { VerifyAnchor, VerifyReport } from '../event-store';
import type { Db } from './open';

type Row = [number, string, number, string, number, string, string, Buffer];

/**
 * Walks every event in position order, recomputing the chain from the stored bytes:
 * an edited row changes its hash; a deleted row leaves a gap and breaks the next row's link;
 * an inserted row has no valid link (or a second version of a stream). Streams rows; never
 * re-parses JSON (the stored text is the canonical text).
 */
export function verifyChain(db: Db, anchor?: VerifyAnchor): VerifyReport {
  // One read transaction: the walk and the sequence check must see the same moment, even
  // while another process appends (WAL: this neither waits for nor blocks that writer).
  const own = !db.inTransaction;
  if (own) db.exec('BEGIN');
  try {
    return walk(db, anchor);
  } finally {
    if (own) db.exec('COMMIT');
  }
}

function walk(db: Db, anchor?: VerifyAnchor): VerifyReport {
  const iter = db
    .prepare('SELECT position, stream_id, version, type, schema_version, data, metadata, hash FROM events ORDER BY position')
    .raw(true)
    .iterate() as IterableIterator<Row>;
  const versions = new Map<string, number>();
  let prevHash: Buffer = GENESIS_HASH;
  let prevPos = 0;
  let events = 0;
  let anchorSeen = false;
  const broken = (position: number, reason: string): VerifyReport => ({
    ok: false,
    events,
    headPosition: prevPos,
    headHash: prevHash.toString('hex'),
    firstBrokenPosition: position,
    reason,
  });
  try {
    for (const r of iter) {
      const [position, streamId, version, type, schemaVersion, dataText, metadataText, hash] = r;
      if (position !== prevPos + 1) return broken(position, `position ${position} follows ${prevPos}: rows missing`);
      const last = versions.get(streamId) ?? 0;
      if (version !== last + 1) return broken(position, `stream ${streamId} version ${version} follows ${last}`);
      const expected = chainHash(prevHash, canonicalEventText({ position, streamId, version, type, schemaVersion, dataText, metadataText }));
      if (!Buffer.isBuffer(hash) || !expected.equals(hash)) return broken(position, `hash of event ${position} does not match its bytes and its predecessor`);
      if (anchor && position === anchor.position) {
        if (hash.toString('hex') !== anchor.hash.toLowerCase()) return broken(position, `event ${position} differs from the anchored hash`);
        anchorSeen = true;
      }
      versions.set(streamId, version);
      prevHash = hash;
      prevPos = position;
      events++;
    }
  } finally {
    iter.return?.();
  }
  const seq = (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as { seq: number } | undefined)?.seq ?? 0;
  if (seq > prevPos) return broken(prevPos + 1, `positions up to ${seq} were given but the chain ends at ${prevPos}: rows deleted`);
  if (anchor && !anchorSeen) return broken(anchor.position, `anchored position ${anchor.position} is beyond the chain's head ${prevPos}`);
  return { ok: true, events, headPosition: prevPos, headHash: prevHash.toString('hex') };
}
