-- 004: stream kinds (a vCPU, a host profile …: a listing shows one kind) and the labels of each
-- stream as rows, indexed by (key, value), so a label filter reads only the streams it matches.
-- streams.labels stays the copy a listing answers with; both are aids: truth is in the events.

ALTER TABLE streams ADD COLUMN kind TEXT NOT NULL DEFAULT 'vcpu';

CREATE TABLE stream_labels (
  stream_id TEXT NOT NULL REFERENCES streams (stream_id),
  key       TEXT NOT NULL,
  value     TEXT NOT NULL,
  PRIMARY KEY (stream_id, key)
) WITHOUT ROWID;

CREATE INDEX stream_labels_by_value ON stream_labels (key, value, stream_id);
CREATE INDEX streams_by_kind ON streams (kind, stream_id);

INSERT INTO stream_labels (stream_id, key, value)
  SELECT streams.stream_id, j.key, j.value FROM streams, json_each(streams.labels) AS j;
