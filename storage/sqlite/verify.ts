import { canonicalEventText, chainHash, GENESIS_HASH } from '../canonical';
import type { VerifyAnchor, VerifyReport } from '../event-store';
import type { Db } from './open';

type Row = [number, string, number, string, number, string, string, Buffer];

const PAGE = 5000;

/**
 * Walks every event in position order, recomputing the chain from the stored bytes:
 * an edited row changes its hash; a deleted row leaves a gap and breaks the next row's link;
 * an inserted row has no valid link (or repeats/skips a stream version). Never re-parses JSON
 * (the stored text is the canonical text).
 *
 * One read transaction, so the walk and the sequence check see the same moment even while
 * another process appends (WAL: it neither waits for nor blocks that writer). `db` should be a
 * connection of its own: between pages the walk yields to the event loop so that this
 * process's own writes go on during a long verify.
 */
export async function verifyChain(db: Db, anchor?: VerifyAnchor): Promise<VerifyReport> {
  db.exec('BEGIN');
  try {
    return await walk(db, anchor);
  } finally {
    db.exec('COMMIT');
  }
}

async function walk(db: Db, anchor?: VerifyAnchor): Promise<VerifyReport> {
  const page = db
    .prepare(
      'SELECT position, stream_id, version, type, schema_version, data, metadata, hash FROM events WHERE position > ? ORDER BY position LIMIT ?',
    )
    .raw(true);
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
  // a row placed before position 1 would be invisible to a walk (and to the feed)
  const stray = db.prepare('SELECT position FROM events WHERE position < 1 ORDER BY position LIMIT 1').pluck().get() as
    number | undefined;
  if (stray !== undefined) return broken(stray, `position ${stray} is not a valid position`);
  for (;;) {
    const rows = page.all(prevPos, PAGE) as Row[];
    for (const [position, streamId, version, type, schemaVersion, dataText, metadataText, hash] of rows) {
      if (position !== prevPos + 1) return broken(position, `position ${position} follows ${prevPos}: rows missing`);
      const last = versions.get(streamId) ?? 0;
      if (version !== last + 1) return broken(position, `stream ${streamId} version ${version} follows ${last}`);
      const expected = chainHash(
        prevHash,
        canonicalEventText({ position, streamId, version, type, schemaVersion, dataText, metadataText }),
      );
      if (!Buffer.isBuffer(hash) || !expected.equals(hash)) {
        return broken(position, `hash of event ${position} does not match its bytes and its predecessor`);
      }
      if (anchor && position === anchor.position) {
        if (hash.toString('hex') !== anchor.hash.toLowerCase())
          return broken(position, `event ${position} differs from the anchored hash`);
        anchorSeen = true;
      }
      versions.set(streamId, version);
      prevHash = hash;
      prevPos = position;
      events++;
    }
    if (rows.length < PAGE) break;
    await new Promise((r) => setImmediate(r));
  }
  const seq =
    (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as { seq: number } | undefined)?.seq ??
    0;
  if (seq > prevPos)
    return broken(prevPos + 1, `positions up to ${seq} were given but the chain ends at ${prevPos}: rows deleted`);
  // streams.version (what listings answer and what an append continues from) must be the log's head
  for (const [streamId, version] of db
    .prepare('SELECT stream_id, version FROM streams ORDER BY stream_id')
    .raw(true)
    .iterate() as IterableIterator<[string, number]>) {
    const head = versions.get(streamId) ?? 0;
    if (head !== version)
      return broken(
        head === 0 ? prevPos : firstPositionOf(db, streamId, head),
        `stream ${streamId} is recorded at version ${version} but its events end at ${head}`,
      );
  }
  if (anchor && !anchorSeen)
    return broken(anchor.position, `anchored position ${anchor.position} is beyond the chain's head ${prevPos}`);
  return { ok: true, events, headPosition: prevPos, headHash: prevHash.toString('hex') };
}

function firstPositionOf(db: Db, streamId: string, version: number): number {
  return (
    (db.prepare('SELECT position FROM events WHERE stream_id = ? AND version = ?').pluck().get(streamId, version) as
      number | undefined) ?? 0
  );
}
