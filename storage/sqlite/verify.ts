import { ChainWalk } from '../chain-walk';
import type { VerifyAnchor, VerifyReport } from '../event-store';
import { EVENT_COLUMNS, type EventRow } from '../rows';
import type { Db } from './open';

const PAGE = 5000;

/**
 * Walks every event in position order with the walk both backends share (storage/chain-walk.ts);
 * sqlite_sequence shows a deleted tail.
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
  const page = db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`).raw(true);
  const w = new ChainWalk(anchor);
  // a row placed before position 1 would be invisible to a walk (and to the feed)
  const stray = db.prepare('SELECT position FROM events WHERE position < 1 ORDER BY position LIMIT 1').pluck().get() as
    number | undefined;
  if (stray !== undefined) return w.broken(stray, `position ${stray} is not a valid position`);
  for (;;) {
    const rows = page.all(w.prevPos, PAGE) as EventRow[];
    for (const row of rows) {
      const bad = w.step(row);
      if (bad) return bad;
    }
    if (rows.length < PAGE) break;
    await new Promise((r) => setImmediate(r));
  }
  const seq =
    (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as { seq: number } | undefined)?.seq ??
    0;
  if (seq > w.prevPos)
    return w.broken(
      w.prevPos + 1,
      `positions up to ${seq} were given but the chain ends at ${w.prevPos}: rows deleted`,
    );
  for (const [streamId, version] of db
    .prepare('SELECT stream_id, version FROM streams ORDER BY stream_id')
    .raw(true)
    .iterate() as IterableIterator<[string, number]>) {
    const wrong = w.streamMismatch(streamId, version);
    if (wrong) {
      const head = w.headOf(streamId);
      return w.broken(head === 0 ? w.prevPos : firstPositionOf(db, streamId, head), wrong);
    }
  }
  return w.finish();
}

function firstPositionOf(db: Db, streamId: string, version: number): number {
  return (
    (db.prepare('SELECT position FROM events WHERE stream_id = ? AND version = ?').pluck().get(streamId, version) as
      number | undefined) ?? 0
  );
}
