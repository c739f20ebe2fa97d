-- 003: idempotency keys, written in the same transaction as the events they produced.

CREATE TABLE idempotency_keys (
  key            TEXT PRIMARY KEY,
  request_hash   TEXT NOT NULL,
  stream_id      TEXT NOT NULL,
  from_version   INTEGER NOT NULL,
  to_version     INTEGER NOT NULL,
  first_position INTEGER NOT NULL,
  last_position  INTEGER NOT NULL,
  -- the caller's answer to the original request (JSON), returned again on a repeat
  result         TEXT,
  created_at     TEXT NOT NULL
) WITHOUT ROWID;

