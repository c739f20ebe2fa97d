import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SchemaVersionError } from '../event-store';
import type { Db } from './open';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const FILE = /^(\d{3,})_([a-z0-9_]+)\.sql$/;

/** The migrations/ directory: above the sources / compiled output, or in the cwd. */
function findMigrationsDir(start: string = __dirname): string {
  for (let d = start; ; d = path.dirname(d)) {
    const candidate = path.join(d, 'migrations');
    if (fs.existsSync(path.join(candidate, '001_init.sql'))) return candidate;
    if (d === path.dirname(d)) break;
  }
  const cwd = path.join(process.cwd(), 'migrations');
  if (fs.existsSync(path.join(cwd, '001_init.sql'))) return cwd;
  throw new Error(`migrations/ not found above ${start} nor in ${process.cwd()}`);
}

/** Numbered SQL files, in order; numbers must run 1, 2, 3 … without gaps. */
export function loadMigrations(dir: string = findMigrationsDir()): Migration[] {
  const out = fs
    .readdirSync(dir)
    .map((f) => FILE.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ version: Number(m[1]), name: m[2]!, sql: fs.readFileSync(path.join(dir, m[0]), 'utf8') }))
    .sort((a, b) => a.version - b.version);
  out.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(`migrations must be numbered 1..n without gaps; found ${m.version} at place ${i + 1}`);
  });
  return out;
}

function checksum(sql: string): string {
  return createHash('sha256').update(sql, 'utf8').digest('hex');
}

function schemaVersionOf(db: Db): number {
  const t = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!t) return 0;
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

/**
 * Brings the schema up to date: refuses a database from a newer service, checks the applied
 * migrations are the ones we know, applies the missing ones in order, each in its own
 * BEGIN IMMEDIATE transaction together with its record (two processes starting at once
 * cannot both apply one). Returns the schema version.
 */
export function migrate(db: Db, migrations: readonly Migration[] = loadMigrations()): number {
  const known = migrations.length;
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TEXT NOT NULL
  )`);
  for (;;) {
    db.exec('BEGIN IMMEDIATE');
    try {
      const current = schemaVersionOf(db);
      if (current > known) {
        throw new SchemaVersionError(
          `database schema version ${current} is newer than this cpreg-ledger supports (${known}); upgrade the service`,
        );
      }
      if (current === known) {
        checkApplied(db, migrations);
        db.exec('COMMIT');
        return current;
      }
      const m = migrations[current]!; // current < migrations.length here
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)').run(
        m.version,
        m.name,
        checksum(m.sql),
        new Date().toISOString(),
      );
      db.pragma(`user_version = ${m.version}`);
      db.exec('COMMIT');
    } catch (e) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw e;
    }
  }
}

/** An applied migration whose file changed since is a schema we cannot vouch for: refuse. */
function checkApplied(db: Db, migrations: readonly Migration[]): void {
  const rows = db.prepare('SELECT version, checksum FROM schema_migrations ORDER BY version').all() as {
    version: number;
    checksum: string;
  }[];
  for (const r of rows) {
    const m = migrations[r.version - 1];
    if (m && checksum(m.sql) !== r.checksum) {
      throw new SchemaVersionError(
        `migration ${String(r.version).padStart(3, '0')}_${m.name}.sql changed after it was applied to this database`,
      );
    }
  }
}
