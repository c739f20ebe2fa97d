import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as pg from 'pg';
import { SchemaVersionError } from '../event-store';
import { loadMigrations, type Migration } from '../sqlite/migrate';

/** The key of the session advisory lock the migration runner holds ('cpreg' in ASCII). */
export const MIGRATION_LOCK = 0x6370726567;

/** migrations/postgres/: above the sources / compiled output, or in the working directory. */
export function findPgMigrationsDir(start: string = __dirname): string {
  for (let d = start; ; d = path.dirname(d)) {
    const candidate = path.join(d, 'migrations', 'postgres');
    if (fs.existsSync(path.join(candidate, '001_init.sql'))) return candidate;
    if (d === path.dirname(d)) break;
  }
  const cwd = path.join(process.cwd(), 'migrations', 'postgres');
  if (fs.existsSync(path.join(cwd, '001_init.sql'))) return cwd;
  throw new Error(`migrations/postgres/ not found above ${start} nor in ${process.cwd()}`);
}

/** The numbered files of migrations/postgres/ (1..n without gaps, as the SQLite ones). */
export function loadPgMigrations(dir: string = findPgMigrationsDir()): Migration[] {
  return loadMigrations(dir);
}

const checksum = (sql: string) => createHash('sha256').update(sql, 'utf8').digest('hex');

/**
 * Brings the schema up to date under a session advisory lock, so of several nodes starting at
 * once one migrates and the others wait, then find nothing to do. Refuses a database from a
 * newer service and an applied migration whose file changed; applies the missing ones in
 * order, each in its own transaction with its schema_migrations row. Returns the version.
 */
export async function migratePg(c: pg.ClientBase, migrations: readonly Migration[]): Promise<number> {
  const known = migrations.length;
  await c.query('SET lock_timeout = 0'); // on a connection of its own: wait as long as another node's migration takes
  await c.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await c.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      checksum   text NOT NULL,
      applied_at text NOT NULL
    )`);
    for (;;) {
      await c.query('BEGIN');
      try {
        const r = await c.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
        const current = r.rows[0]?.v ?? 0;
        if (current > known) {
          throw new SchemaVersionError(
            `database schema version ${current} is newer than this cpreg-ledger supports (${known}); upgrade the service`,
          );
        }
        if (current === known) {
          await checkApplied(c, migrations);
          await c.query('COMMIT');
          return current;
        }
        const m = migrations[current]!; // current < migrations.length here
        await c.query(m.sql);
        await c.query('INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)', [
          m.version,
          m.name,
          checksum(m.sql),
          new Date().toISOString(),
        ]);
        await c.query('COMMIT');
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    }
  } finally {
    await c.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
  }
}

async function checkApplied(c: pg.ClientBase, migrations: readonly Migration[]): Promise<void> {
  const rows = await c.query<{ version: number; checksum: string }>(
    'SELECT version, checksum FROM schema_migrations ORDER BY version',
  );
  for (const r of rows.rows) {
    const m = migrations[r.version - 1];
    if (m && checksum(m.sql) !== r.checksum) {
      throw new SchemaVersionError(
        `migration postgres/${String(r.version).padStart(3, '0')}_${m.name}.sql changed after it was applied to this database`,
      );
    }
  }
}
