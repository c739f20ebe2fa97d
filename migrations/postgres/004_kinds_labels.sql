-- 004 (PostgreSQL): stream kinds (a vCPU, a host profile …: a listing shows one kind) and the
-- labels of each stream as rows, indexed by (key, value), so a label filter reads only the
-- streams it matches. streams.labels stays the copy a listing answers with.

ALTER TABLE streams ADD COLUMN kind text NOT NULL DEFAULT 'vcpu';

CREATE TABLE stream_labels (
  stream_id text COLLATE "C" NOT NULL REFERENCES streams (stream_id),
  key       text COLLATE "C" NOT NULL,
  value     text COLLATE "C" NOT NULL,
  PRIMARY KEY (stream_id, key)
);

CREATE INDEX stream_labels_by_value ON stream_labels (key, value, stream_id);
CREATE INDEX streams_by_kind ON streams (kind, stream_id);
