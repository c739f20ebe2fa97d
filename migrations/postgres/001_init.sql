-- 001 (PostgreSQL): streams and their events, global position, hash chain, and the head row that
-- orders every append. Applied at start-up under an advisory lock, each migration in its own
-- transaction with its schema_migrations row. Never edit an applied migration: add a new one.
-- Numbered like migrations/NNN_*.sql: schema version N is the same schema on both backends.
-- Ids are COLLATE "C" (byte order), so listings and cursors order exactly as SQLite's BINARY.

CREATE TABLE streams (
  stream_id  text COLLATE "C" PRIMARY KEY,
  version    bigint NOT NULL CHECK (version >= 1),
  created_at text NOT NULL,
  updated_at text NOT NULL,
  -- listing aid only: the labels also live in the events' data (truth)
  labels     text NOT NULL DEFAULT '{}'
);

CREATE TABLE events (
  -- given under the event_head row lock, so commit order is position order (docs/storage.md)
  position       bigint PRIMARY KEY,
  stream_id      text COLLATE "C" NOT NULL REFERENCES streams (stream_id),
  version        bigint NOT NULL CHECK (version >= 1),
  type           text NOT NULL,
  schema_version integer NOT NULL,
  -- canonical JSON text (sorted keys, no whitespace): exactly the bytes the hash covers
  data           text NOT NULL,
  metadata       text NOT NULL,
  -- sha256(previous event's hash || canonical event bytes), 32 bytes
  hash           bytea NOT NULL,
  UNIQUE (stream_id, version)
);

-- One row: the highest position ever given and the chain's head hash. Every append takes its
-- row lock first and holds it to COMMIT, so appends (on any node) commit one after another, in
-- position order; verify also uses it as SQLite uses sqlite_sequence (a deleted tail is seen).
CREATE TABLE event_head (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  position  bigint NOT NULL,
  hash      bytea NOT NULL
);
INSERT INTO event_head (singleton, position, hash) VALUES (true, 0, decode(repeat('00', 32), 'hex'));
