-- 002: snapshots, a cache of a stream's folded state at a version. Never trusted over events:
-- a row whose checksum or event hash does not match, or whose payload does not decode, is ignored.

CREATE TABLE snapshots (
  stream_id      TEXT NOT NULL,
  version        INTEGER NOT NULL,
  schema_version INTEGER NOT NULL,
  data           TEXT NOT NULL,
  -- hash of the stream's event at `version`: binds the snapshot to the chain it was folded from
  event_hash     BLOB NOT NULL,
  -- sha256 over event_hash, schema_version and data: catches a damaged or edited row
  checksum       BLOB NOT NULL,
  created_at     TEXT NOT NULL,
  PRIMARY KEY (stream_id, version)
) WITHOUT ROWID;
