-- 002 (PostgreSQL): snapshots, a cache of a stream's folded state at a version. Never trusted
-- over events: a row whose checksum or event hash does not match, or whose payload does not
-- decode, is ignored.

CREATE TABLE snapshots (
  stream_id      text COLLATE "C" NOT NULL,
  version        bigint NOT NULL,
  schema_version integer NOT NULL,
  data           text NOT NULL,
  -- hash of the stream's event at `version`: binds the snapshot to the chain it was folded from
  event_hash     bytea NOT NULL,
  -- sha256 over event_hash, schema_version and data: catches a damaged or edited row
  checksum       bytea NOT NULL,
  created_at     text NOT NULL,
  PRIMARY KEY (stream_id, version)
);
