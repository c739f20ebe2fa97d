-- 001: streams and their events (one stream per vCPU), global position, hash chain.
-- Migrations are applied in order at start-up, each in its own transaction, and recorded in
-- schema_migrations (created by the runner). Never edit an applied migration: add a new one.

CREATE TABLE streams (
  stream_id  TEXT PRIMARY KEY,
  version    INTEGER NOT NULL CHECK (version >= 1),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  -- listing aid only: the labels also live in the events' data (truth)
  labels     TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;

CREATE TABLE events (
  -- AUTOINCREMENT: a position is never reused, even after the highest row is deleted
  position       INTEGER PRIMARY KEY AUTOINCREMENT,
  stream_id      TEXT NOT NULL REFERENCES streams (stream_id),
  version        INTEGER NOT NULL CHECK (version >= 1),
  type           TEXT NOT NULL,
  schema_version INTEGER NOT NULL,
  -- canonical JSON text (sorted keys, no whitespace): exactly the bytes the hash covers
  data           TEXT NOT NULL,
  metadata       TEXT NOT NULL,
  -- sha256(previous event's hash || canonical event bytes), 32 bytes
  hash           BLOB NOT NULL,
  UNIQUE (stream_id, version)
);
