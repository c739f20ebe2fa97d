import { ChainWalk } from '../chain-walk';
import type { VerifyAnchor, VerifyReport } from '../event-store';
import { EVENT_COLUMNS, type EventRow } from '../rows';
import type { PgDb } from './db';

const PAGE = 5000;

/**
 * Walks every event in position order with the walk both backends share (storage/chain-walk.ts).
 * One
 * REPEATABLE READ READ ONLY transaction, so every page and the head row are of one moment while
 * other nodes append; event_head plays sqlite_sequence's part (a deleted tail is seen).
 */
export async function verifyChain(db: PgDb, anchor?: VerifyAnchor): Promise<VerifyReport> {
  return db.with(async (c) => {
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      return await walk(
        (text, values) => c.query({ text, values, rowMode: 'array' }).then((r) => r.rows as EventRow[]),
        anchor,
      );
    } finally {
      await c.query('COMMIT');
    }
  });
}

async function walk(
  q: (text: string, values: unknown[]) => Promise<unknown[][]>,
  anchor?: VerifyAnchor,
): Promise<VerifyReport> {
  const w = new ChainWalk(anchor);
  // a row placed before position 1 would be invisible to a walk (and to the feed)
  const [stray] = await q('SELECT position FROM events WHERE position < 1 ORDER BY position LIMIT 1', []);
  if (stray) return w.broken(stray[0] as number, `position ${String(stray[0])} is not a valid position`);
  for (;;) {
    const rows = (await q(`SELECT ${EVENT_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2`, [
      w.prevPos,
      PAGE,
    ])) as EventRow[];
    for (const row of rows) {
      const bad = w.step(row);
      if (bad) return bad;
    }
    if (rows.length < PAGE) break;
  }
  const prevPos = w.prevPos;
  const [head] = await q('SELECT position, hash FROM event_head', []);
  const headPosition = (head?.[0] as number | undefined) ?? 0;
  if (headPosition > prevPos)
    return w.broken(
      prevPos + 1,
      `positions up to ${headPosition} were given but the chain ends at ${prevPos}: rows deleted`,
    );
  if (headPosition < prevPos)
    return w.broken(headPosition + 1, `events up to ${prevPos} but the head row is at ${headPosition}: rows inserted`);
  if (headPosition === prevPos && prevPos > 0 && !w.headHash.equals(head?.[1] as Buffer))
    return w.broken(prevPos, `the head row's hash differs from event ${prevPos}'s: the chain was rewritten`);
  const heads = await q('SELECT stream_id, version FROM streams ORDER BY stream_id', []);
  for (const [streamId, version] of heads as [string, number][]) {
    const wrong = w.streamMismatch(streamId, version);
    if (wrong) {
      const at = w.headOf(streamId);
      const [row] =
        at === 0 ? [] : await q('SELECT position FROM events WHERE stream_id = $1 AND version = $2', [streamId, at]);
      return w.broken(at === 0 ? prevPos : ((row?.[0] as number | undefined) ?? 0), wrong);
    }
  }
  return w.finish();
}
