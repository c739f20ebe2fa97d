-- 003 (PostgreSQL): idempotency keys, written in the same transaction as the events they produced.

CREATE TABLE idempotency_keys (
  key            text COLLATE "C" PRIMARY KEY,
  request_hash   text NOT NULL,
  stream_id      text COLLATE "C" NOT NULL,
  from_version   bigint NOT NULL,
  to_version     bigint NOT NULL,
  first_position bigint NOT NULL,
  last_position  bigint NOT NULL,
  -- the caller's answer to the original request (JSON), returned again on a repeat
  result         text,
  created_at     text NOT NULL
);
