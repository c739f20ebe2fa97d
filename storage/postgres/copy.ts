/**
 * Moving a store: every row of an SQLite store into an empty PostgreSQL database, unchanged —
 * events with their positions, stored text and hashes, streams with their heads, kinds and
 * labels, snapshots with their checksums, idempotency keys with their answers — in one
 * transaction under the head lock, so no node appends meanwhile and a failed copy leaves the
 * target empty. The source is read in one read transaction (a consistent moment even if a
 * service still writes it) and its chain is recomputed as it is read: a source that does not
 * verify is refused. The copy is verified afterwards and must end at the source's head.
 */
import Database from 'better-sqlite3';
import { ChainWalk } from '../chain-walk';
import { SchemaVersionError, type VerifyReport } from '../event-store';
import { EVENT_COLUMNS, type EventRow } from '../rows';
import { loadMigrations } from '../sqlite/migrate';
import { COMMIT_CHANNEL } from './append';
import { loadPgMigrations } from './migrate';
import { PostgresEventStore, type PostgresStoreOptions } from './postgres-event-store';

export interface CopyReport {
  events: number;
  streams: number;
  labels: number;
  snapshots: number;
  idempotencyKeys: number;
  headPosition: number;
  headHash: string;
  /** verify() of the copy. */
  verified: VerifyReport;
}

export class CopyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CopyError';
  }
}

const CHUNK = 1000;

export interface CopyOptions extends Partial<PostgresStoreOptions> {
  /** Told after each chunk of events (for a progress line). */
  onProgress?: (copied: number, total: number) => void;
}

export async function copySqliteToPostgres(sqliteFile: string, url: string, o: CopyOptions = {}): Promise<CopyReport> {
  let src: Database.Database;
  try {
    src = new Database(sqliteFile, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new CopyError(`cannot open ${sqliteFile}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    checkSourceSchema(src, sqliteFile);
    const target = await PostgresEventStore.open({ ...o, url });
    try {
      src.exec('BEGIN'); // one read transaction: every table of one moment
      try {
        return await copyInto(src, target, o);
      } finally {
        src.exec('COMMIT');
      }
    } finally {
      await target.close();
    }
  } finally {
    src.close();
  }
}

function checkSourceSchema(src: Database.Database, file: string): void {
  const known = loadMigrations().length;
  const pg = loadPgMigrations().length;
  if (known !== pg) throw new CopyError(`the SQLite schema (${known}) and the PostgreSQL schema (${pg}) differ`);
  const t = src.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  const v = t
    ? ((src.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0)
    : 0;
  if (v > known)
    throw new SchemaVersionError(`${file} is at schema version ${v}, newer than this cpreg-ledger supports (${known})`);
  if (v < known)
    throw new CopyError(
      `${file} is at schema version ${v}, older than ${known}: open it once with this cpreg-ledger (it upgrades itself), then copy`,
    );
}

async function copyInto(src: Database.Database, target: PostgresEventStore, o: CopyOptions): Promise<CopyReport> {
  const count = (table: string) => (src.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  const total = count('events');
  const seq =
    (src.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as { seq: number } | undefined)?.seq ??
    0;
  const copied = await target.withConnection(async (c) => {
    await c.query('BEGIN');
    try {
      const head = await c.query<{ position: number }>('SELECT position FROM event_head FOR UPDATE');
      const busy = await c.query<{ n: number }>(
        `SELECT (SELECT COUNT(*) FROM streams) + (SELECT COUNT(*) FROM events) + (SELECT COUNT(*) FROM snapshots)
           + (SELECT COUNT(*) FROM idempotency_keys) AS n`,
      );
      if ((head.rows[0]?.position ?? 0) !== 0 || Number(busy.rows[0]?.n ?? 0) !== 0)
        throw new CopyError('the target database is not empty: a copy goes into a new database');

      // streams first (events and labels refer to them)
      let streams = 0;
      for (const rows of chunks(
        src
          .prepare('SELECT stream_id, version, created_at, updated_at, labels, kind FROM streams ORDER BY stream_id')
          .raw(true)
          .iterate() as IterableIterator<[string, number, string, string, string, string]>,
      )) {
        await c.query(
          `INSERT INTO streams (stream_id, version, created_at, updated_at, labels, kind)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[])`,
          columns(rows, 6),
        );
        streams += rows.length;
      }
      let labels = 0;
      for (const rows of chunks(
        src
          .prepare('SELECT stream_id, key, value FROM stream_labels ORDER BY stream_id, key')
          .raw(true)
          .iterate() as IterableIterator<[string, string, string]>,
      )) {
        await c.query(
          'INSERT INTO stream_labels (stream_id, key, value) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])',
          columns(rows, 3),
        );
        labels += rows.length;
      }

      // events in position order, the chain recomputed from the stored bytes as they go (the
      // walk verify runs: positions, stream versions, hashes)
      const walk = new ChainWalk();
      for (const rows of chunks(
        src
          .prepare(`SELECT ${EVENT_COLUMNS} FROM events ORDER BY position`)
          .raw(true)
          .iterate() as IterableIterator<EventRow>,
      )) {
        for (const row of rows) {
          const broken = walk.step(row);
          if (broken) throw new CopyError(`the source does not verify: ${broken.reason}`);
        }
        await c.query(
          `INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, hash)
           SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::integer[], $6::text[], $7::text[], $8::bytea[])`,
          columns(rows, 8),
        );
        o.onProgress?.(walk.prevPos, total);
      }
      const prevPos = walk.prevPos;
      const prevHash = walk.headHash;
      if (seq > prevPos)
        throw new CopyError(
          `the source does not verify: positions up to ${seq} were given, its events end at ${prevPos}`,
        );

      let snapshots = 0;
      for (const rows of chunks(
        src
          .prepare(
            'SELECT stream_id, version, schema_version, data, event_hash, checksum, created_at FROM snapshots ORDER BY stream_id, version',
          )
          .raw(true)
          .iterate() as IterableIterator<unknown[]>,
      )) {
        await c.query(
          `INSERT INTO snapshots (stream_id, version, schema_version, data, event_hash, checksum, created_at)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::integer[], $4::text[], $5::bytea[], $6::bytea[], $7::text[])`,
          columns(rows, 7),
        );
        snapshots += rows.length;
      }
      let keys = 0;
      for (const rows of chunks(
        src
          .prepare(
            'SELECT key, request_hash, stream_id, from_version, to_version, first_position, last_position, result, created_at FROM idempotency_keys ORDER BY key',
          )
          .raw(true)
          .iterate() as IterableIterator<unknown[]>,
      )) {
        await c.query(
          `INSERT INTO idempotency_keys (key, request_hash, stream_id, from_version, to_version, first_position, last_position, result, created_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::text[])`,
          columns(rows, 9),
        );
        keys += rows.length;
      }
      await c.query('UPDATE event_head SET position = $1, hash = $2', [prevPos, prevHash]);
      await c.query(`SELECT pg_notify('${COMMIT_CHANNEL}', $1)`, [`copy ${prevPos}`]);
      await c.query('COMMIT');
      return { streams, labels, snapshots, keys, headPosition: prevPos, headHash: prevHash.toString('hex') };
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
  });
  const verified = await target.verify();
  if (!verified.ok || verified.headPosition !== copied.headPosition || verified.headHash !== copied.headHash) {
    throw new CopyError(
      `the copy does not verify (${verified.reason ?? `head ${verified.headPosition} ${verified.headHash}`}); the target holds it as copied`,
    );
  }
  return {
    events: copied.headPosition,
    streams: copied.streams,
    labels: copied.labels,
    snapshots: copied.snapshots,
    idempotencyKeys: copied.keys,
    headPosition: copied.headPosition,
    headHash: copied.headHash,
    verified,
  };
}

/** Rows in chunks of CHUNK. */
function* chunks<T>(rows: IterableIterator<T>): Generator<T[]> {
  let chunk: T[] = [];
  for (const r of rows) {
    chunk.push(r);
    if (chunk.length === CHUNK) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length) yield chunk;
}

/** Row-major to column arrays (one parameter per column, for unnest). */
function columns(rows: readonly unknown[][], n: number): unknown[][] {
  const out: unknown[][] = Array.from({ length: n }, () => []);
  for (const r of rows) for (let i = 0; i < n; i++) out[i]!.push(r[i] ?? null);
  return out;
}
