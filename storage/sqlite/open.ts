import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';

export type Db = Database.Database;

export interface OpenOptions {
  /** Milliseconds a writer waits for another process's write lock before failing. */
  busyTimeoutMs?: number;
  readonly?: boolean;
}

/**
 * Opens (creating its directory) a database in WAL mode (readers never block the writer) with
 * synchronous=FULL, so a commit on this connection is on disk when it returns. The event store's
 * writing connection switches to NORMAL and instead syncs the WAL itself, off the event loop,
 * before any answer (wal-sync.ts): the same durability, without blocking the loop in COMMIT.
 */
export function openDatabase(file: string, opts: OpenOptions = {}): Db {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new Database(file, { timeout: opts.busyTimeoutMs ?? 5000, readonly: opts.readonly ?? false });
  if (!opts.readonly) {
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (file !== ':memory:' && String(mode).toLowerCase() !== 'wal') {
      db.close();
      throw new Error(`could not put ${file} in WAL mode (got ${String(mode)})`);
    }
  }
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
  return db;
}
