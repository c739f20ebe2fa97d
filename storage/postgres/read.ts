import type { EventPayload, FeedPage, ListStreamsQuery, RawPage, StreamInfo, StreamPage } from '../event-store';
import {
  EVENT_COLUMNS,
  STREAM_COLUMNS,
  toRawEvent,
  toStoredEvent,
  toStreamInfo,
  type EventRow,
  type StreamRow,
} from '../rows';
import type { PgDb, Row } from './db';

const MAX_VERSION = Number.MAX_SAFE_INTEGER;
const MAX_PAGE = 10_000;

const clampPage = (limit: number) => Math.max(1, Math.min(MAX_PAGE, Math.floor(limit)));

/**
 * Reads: plain indexed queries under READ COMMITTED. Every row a query returns was committed
 * before it started, and positions are given under the head lock in commit order, so a feed
 * page never has a hole that a later commit fills (docs/storage.md, "The global order").
 */
export class PgReader {
  constructor(private readonly db: PgDb) {}

  async streamVersion(streamId: string): Promise<number> {
    // The head is derived from the log (the UNIQUE (stream_id, version) index: one seek), never
    // taken from streams.version, which a raw edit could lower to hide the newest events.
    const [r] = await this.db.rows('SELECT MAX(version) FROM events WHERE stream_id = $1', [streamId], 'cpreg_version');
    return (r?.[0] as number | null | undefined) ?? 0;
  }

  async getStream(streamId: string): Promise<StreamInfo | undefined> {
    const [r] = await this.db.objects<StreamRow>(`SELECT ${STREAM_COLUMNS} FROM streams WHERE stream_id = $1`, [
      streamId,
    ]);
    return r ? toStreamInfo(r) : undefined;
  }

  async readStream(streamId: string, fromVersion = 1, toVersion = MAX_VERSION, limit = MAX_VERSION) {
    const rows = await this.db.rows(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND version BETWEEN $2 AND $3 ORDER BY version LIMIT $4`,
      [streamId, fromVersion, toVersion, limit],
      'cpreg_stream',
    );
    return (rows as EventRow[]).map(toStoredEvent);
  }

  async readPayloads(streamId: string, fromVersion = 1, toVersion = MAX_VERSION): Promise<EventPayload[]> {
    const rows = await this.db.rows(
      'SELECT version, type, schema_version, data FROM events WHERE stream_id = $1 AND version BETWEEN $2 AND $3 ORDER BY version',
      [streamId, fromVersion, toVersion],
      'cpreg_payloads',
    );
    return rows as unknown as EventPayload[];
  }

  async readAll(afterPosition: number, limit: number): Promise<FeedPage> {
    const rows = await this.db.rows(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2`,
      [afterPosition, clampPage(limit)],
      'cpreg_all',
    );
    const events = (rows as EventRow[]).map(toStoredEvent);
    return { events, lastPosition: events.at(-1)?.position ?? afterPosition };
  }

  /**
   * The first `limit` events after a position, cut on the server once about `maxBytes` of text
   * is reached (the first event always fits), so a page never sends more than its budget.
   * The size of a row is counted as SQLite's reader counts it (data + metadata + stream id + 200).
   */
  readFeedRaw(afterPosition: number, limit: number, maxBytes: number): Promise<RawPage> {
    return this.bounded('position > $1', [afterPosition], 'position', limit, maxBytes, afterPosition, 0);
  }

  readStreamRaw(streamId: string, afterVersion: number, limit: number, maxBytes: number): Promise<RawPage> {
    return this.bounded(
      'stream_id = $4 AND version > $1',
      [afterVersion, streamId],
      'version',
      limit,
      maxBytes,
      afterVersion,
      2,
    );
  }

  private async bounded(
    where: string,
    params: unknown[],
    order: 'position' | 'version',
    limit: number,
    maxBytes: number,
    after: number,
    keyIndex: number,
  ): Promise<RawPage> {
    const n = clampPage(limit);
    // $1 the cursor, $2 the count, $3 the byte budget, $4 the stream (stream reads)
    const values = [params[0], n, Math.max(0, Math.floor(maxBytes)), ...params.slice(1)];
    const rows = (await this.db.rows(
      `SELECT ${EVENT_COLUMNS}, total FROM (
         SELECT p.*, row_number() OVER w AS rn, count(*) OVER () AS total,
                sum(length(data) + length(metadata) + length(stream_id) + 200) OVER w AS run
         FROM (SELECT ${EVENT_COLUMNS} FROM events WHERE ${where} ORDER BY ${order} LIMIT $2 + 1) p
         WINDOW w AS (ORDER BY ${order} ROWS UNBOUNDED PRECEDING)
       ) q WHERE rn <= $2 AND (rn = 1 OR run <= $3) ORDER BY ${order}`,
      values,
      `cpreg_bounded_${order}`,
    )) as Row[];
    const events = rows.map((r) => toRawEvent(r as EventRow));
    const total = Number(rows[0]?.[8] ?? 0);
    const last = rows.at(-1);
    return { events, last: last ? (last[keyIndex] as number) : after, more: total > events.length };
  }

  /**
   * One kind's streams in id order ("C" collation: byte order, as SQLite). With labels, the
   * first label's index entries drive the query, the others are checked per row: the cost is
   * that of the page and of the streams the first label matches.
   */
  async listStreams(q: ListStreamsQuery = {}): Promise<StreamPage> {
    const limit = Math.max(1, Math.min(1000, Math.floor(q.limit ?? 100)));
    const labels = Object.entries(q.labels ?? {});
    const kind = q.kind ?? 'vcpu';
    const after = q.after ?? '';
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    let sql: string;
    const first = labels[0];
    if (first) {
      sql =
        'SELECT s.stream_id, s.version, s.created_at, s.updated_at, s.labels FROM stream_labels l JOIN streams s ON s.stream_id = l.stream_id ' +
        `WHERE l.key = ${p(first[0])} AND l.value = ${p(first[1])} AND l.stream_id > ${p(after)} AND s.kind = ${p(kind)}`;
      for (const [k, v] of labels.slice(1)) {
        sql += ` AND EXISTS (SELECT 1 FROM stream_labels m WHERE m.stream_id = s.stream_id AND m.key = ${p(k)} AND m.value = ${p(v)})`;
      }
      sql += ` ORDER BY l.stream_id LIMIT ${p(limit + 1)}`;
    } else {
      sql = `SELECT ${STREAM_COLUMNS} FROM streams WHERE kind = ${p(kind)} AND stream_id > ${p(after)} ORDER BY stream_id LIMIT ${p(limit + 1)}`;
    }
    const rows = await this.db.objects<StreamRow>(sql, params);
    const more = rows.length > limit;
    const streams = rows.slice(0, limit).map(toStreamInfo);
    const last = streams.at(-1);
    return more && last ? { streams, next: last.streamId } : { streams };
  }
}
