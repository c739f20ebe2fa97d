import { canonicalEventText, chainHash, GENESIS_HASH } from '../canonical';
import type { VerifyAnchor, VerifyReport } from '../event-store';
import type { PgDb } from './db';

type Row = [number, string, number, string, number, string, string, Buffer];

const PAGE = 5000;

/**
 * Walks every event in position order, recomputing the chain from the stored bytes, exactly as
 * the SQLite walk does (storage/sqlite/verify.ts): an edited row changes its hash; a deleted row
 * leaves a gap; an inserted row has no valid link or repeats/skips a stream version. One
 * REPEATABLE READ READ ONLY transaction, so every page and the head row are of one moment while
 * other nodes append; event_head plays sqlite_sequence's part (a deleted tail is seen).
 */
export async function verifyChain(db: PgDb, anchor?: VerifyAnchor): Promise<VerifyReport> {
  return db.with(async (c) => {
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      return await walk(
        (text, values) => c.query({ text, values, rowMode: 'array' }).then((r) => r.rows as Row[]),
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
  const [stray] = await q('SELECT position FROM events WHERE position < 1 ORDER BY position LIMIT 1', []);
  if (stray) return broken(stray[0] as number, `position ${String(stray[0])} is not a valid position`);
  for (;;) {
    const rows = (await q(
      'SELECT position, stream_id, version, type, schema_version, data, metadata, hash FROM events WHERE position > $1 ORDER BY position LIMIT $2',
      [prevPos, PAGE],
    )) as Row[];
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
  }
  const [head] = await q('SELECT position, hash FROM event_head', []);
  const headPosition = (head?.[0] as number | undefined) ?? 0;
  if (headPosition > prevPos)
    return broken(
      prevPos + 1,
      `positions up to ${headPosition} were given but the chain ends at ${prevPos}: rows deleted`,
    );
  if (headPosition < prevPos)
    return broken(headPosition + 1, `events up to ${prevPos} but the head row is at ${headPosition}: rows inserted`);
  if (headPosition === prevPos && prevPos > 0 && !prevHash.equals(head?.[1] as Buffer))
    return broken(prevPos, `the head row's hash differs from event ${prevPos}'s: the chain was rewritten`);
  // streams.version (what listings answer and what an append continues from) must be the log's head
  const heads = await q('SELECT stream_id, version FROM streams ORDER BY stream_id', []);
  for (const [streamId, version] of heads as [string, number][]) {
    const head = versions.get(streamId) ?? 0;
    if (head !== version) {
      const [at] =
        head === 0
          ? []
          : await q('SELECT position FROM events WHERE stream_id = $1 AND version = $2', [streamId, head]);
      return broken(
        head === 0 ? prevPos : ((at?.[0] as number | undefined) ?? 0),
        `stream ${streamId} is recorded at version ${version} but its events end at ${head}`,
      );
    }
  }
  if (anchor && !anchorSeen)
    return broken(anchor.position, `anchored position ${anchor.position} is beyond the chain's head ${prevPos}`);
  return { ok: true, events, headPosition: prevPos, headHash: prevHash.toString('hex') };
}
