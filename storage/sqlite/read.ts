import type {
  EventPayload,
  FeedPage,
  ListStreamsQuery,
  RawEvent,
  RawPage,
  StoredEvent,
  StreamInfo,
  StreamPage,
} from '../event-store';
import type { JsonPage } from '../event-json';
import type { Db } from './open';
import { EVENT_COLUMNS, toRawEvent, toStoredEvent, toStreamInfo, type EventRow, type StreamRow } from '../rows';
import { PAYLOAD_COLUMNS } from './rows';

const MAX_VERSION = Number.MAX_SAFE_INTEGER;
const MAX_PAGE = 10_000;

/** Reads: plain indexed queries in WAL mode, so they never wait for (or block) a writer. */
export class Reader {
  private readonly stmts;

  constructor(private readonly db: Db) {
    this.stmts = {
      stream: db.prepare(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE stream_id = ? AND version BETWEEN ? AND ? ORDER BY version LIMIT ?`,
      ),
      payloads: db.prepare(
        `SELECT ${PAYLOAD_COLUMNS} FROM events WHERE stream_id = ? AND version BETWEEN ? AND ? ORDER BY version`,
      ),
      all: db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`),
      // eventJsonText's bytes, composed by SQLite in C: building them in JS per row cost the
      // feed more than reading the rows (json_quote escapes as JSON.stringify does)
      feedJson: db.prepare(
        `SELECT position, type, '{"position":' || position || ',"streamId":' || json_quote(stream_id) || ` +
          `',"version":' || version || ',"type":' || json_quote(type) || ',"schemaVersion":' || schema_version || ` +
          `',"data":' || data || ',"metadata":' || metadata || ',"hash":"' || lower(hex(hash)) || '"}' ` +
          'FROM events WHERE position > ? ORDER BY position LIMIT ?',
      ),
      streamAfter: db.prepare(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE stream_id = ? AND version > ? ORDER BY version LIMIT ?`,
      ),
      // The head is derived from the log (the UNIQUE (stream_id, version) index: one seek), never
      // taken from streams.version, which a raw edit could lower to hide the newest events.
      version: db.prepare<[string], { version: number | null }>(
        'SELECT MAX(version) AS version FROM events WHERE stream_id = ?',
      ),
      info: db.prepare<[string], StreamRow>('SELECT * FROM streams WHERE stream_id = ?'),
    };
    this.stmts.stream.raw(true);
    this.stmts.payloads.raw(true);
    this.stmts.all.raw(true);
    this.stmts.feedJson.raw(true);
    this.stmts.streamAfter.raw(true);
  }

  streamVersion(streamId: string): number {
    return this.stmts.version.get(streamId)?.version ?? 0;
  }

  getStream(streamId: string): StreamInfo | undefined {
    const r = this.stmts.info.get(streamId);
    return r ? toStreamInfo(r) : undefined;
  }

  readStream(streamId: string, fromVersion = 1, toVersion = MAX_VERSION, limit = MAX_VERSION): StoredEvent[] {
    return (this.stmts.stream.all(streamId, fromVersion, toVersion, limit) as EventRow[]).map(toStoredEvent);
  }

  readPayloads(streamId: string, fromVersion = 1, toVersion = MAX_VERSION): EventPayload[] {
    return this.stmts.payloads.all(streamId, fromVersion, toVersion) as EventPayload[];
  }

  readAll(afterPosition: number, limit: number): FeedPage {
    const n = Math.max(1, Math.min(MAX_PAGE, Math.floor(limit)));
    const events = (this.stmts.all.all(afterPosition, n) as EventRow[]).map(toStoredEvent);
    return { events, lastPosition: events.at(-1)?.position ?? afterPosition };
  }

  readFeedRaw(afterPosition: number, limit: number, maxBytes: number): RawPage {
    const rows = this.stmts.all.iterate(afterPosition, clampPage(limit) + 1) as IterableIterator<EventRow>;
    return bounded(rows, limit, maxBytes, afterPosition, (e) => e.position);
  }

  /** The global feed as eventJsonText's texts, bounded as readFeedRaw is. */
  readFeedJson(afterPosition: number, limit: number, maxBytes: number): JsonPage {
    const n = clampPage(limit);
    const rows = this.stmts.feedJson.iterate(afterPosition, n + 1) as IterableIterator<[number, string, string]>;
    const { items: events, more } = takeBounded(
      rows,
      n,
      maxBytes,
      (r) => r[2].length,
      ([position, type, json]) => ({ position, type, json }),
    );
    return { events, last: events.at(-1)?.position ?? afterPosition, more };
  }

  readStreamRaw(streamId: string, afterVersion: number, limit: number, maxBytes: number): RawPage {
    const rows = this.stmts.streamAfter.iterate(
      streamId,
      afterVersion,
      clampPage(limit) + 1,
    ) as IterableIterator<EventRow>;
    return bounded(rows, limit, maxBytes, afterVersion, (e) => e.version);
  }

  /**
   * One kind's streams in id order. With labels, the first label's index entries drive the
   * query (a range of (key, value, stream_id)), the others are checked per row: the cost is that
   * of the page and of the streams the first label matches, never of the whole fleet.
   */
  listStreams(q: ListStreamsQuery = {}): StreamPage {
    const limit = Math.max(1, Math.min(1000, Math.floor(q.limit ?? 100)));
    const labels = Object.entries(q.labels ?? {});
    const kind = q.kind ?? 'vcpu';
    const after = q.after ?? '';
    let sql: string;
    const params: unknown[] = [];
    const first = labels[0];
    if (first) {
      sql =
        'SELECT s.* FROM stream_labels l JOIN streams s ON s.stream_id = l.stream_id ' +
        'WHERE l.key = ? AND l.value = ? AND l.stream_id > ? AND s.kind = ?';
      params.push(first[0], first[1], after, kind);
      for (const [k, v] of labels.slice(1)) {
        sql +=
          ' AND EXISTS (SELECT 1 FROM stream_labels m WHERE m.stream_id = s.stream_id AND m.key = ? AND m.value = ?)';
        params.push(k, v);
      }
      sql += ' ORDER BY l.stream_id LIMIT ?';
    } else {
      sql = 'SELECT * FROM streams WHERE kind = ? AND stream_id > ? ORDER BY stream_id LIMIT ?';
      params.push(kind, after);
    }
    const rows = this.db.prepare(sql).all(...params, limit + 1) as StreamRow[];
    const more = rows.length > limit;
    const streams = rows.slice(0, limit).map(toStreamInfo);
    const last = streams.at(-1);
    return more && last ? { streams, next: last.streamId } : { streams };
  }
}

const clampPage = (limit: number) => Math.max(1, Math.min(MAX_PAGE, Math.floor(limit)));

/**
 * Takes rows until `limit` events or `maxBytes` of text (the first event always fits), and
 * says whether more follow; the iterator is closed early, so no row past the page is read.
 */
function bounded(
  rows: IterableIterator<EventRow>,
  limit: number,
  maxBytes: number,
  after: number,
  key: (e: RawEvent) => number,
): RawPage {
  const { items: events, more } = takeBounded(
    rows,
    clampPage(limit),
    maxBytes,
    (r) => r[5].length + r[6].length + r[1].length + 200,
    toRawEvent,
  );
  const lastEvent = events.at(-1);
  return { events, last: lastEvent ? key(lastEvent) : after, more };
}

/** Rows up to n of them and about maxBytes (always one at least); `more` when a row was left. */
function takeBounded<R, T>(
  rows: Iterable<R>,
  n: number,
  maxBytes: number,
  sizeOf: (r: R) => number,
  map: (r: R) => T,
): { items: T[]; more: boolean } {
  const items: T[] = [];
  let bytes = 0;
  for (const r of rows) {
    const size = sizeOf(r);
    if (items.length === n || (items.length > 0 && bytes + size > maxBytes)) return { items, more: true };
    items.push(map(r));
    bytes += size;
  }
  return { items, more: false };
}
