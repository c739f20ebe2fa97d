import { canonicalEventText, canonicalJson, chainHash } from '../canonical';
import {
  ConcurrencyError,
  IdempotencyConflictError,
  type AppendGroup,
  type AppendGroupResult,
  type ExpectedVersion,
  type IdempotencyRecord,
  type MetadataInput,
  type StoredEvent,
  type StreamAppend,
  type StreamAppended,
} from '../event-store';
import type { Outcome } from '../group-commit';
import type { BatchHooks } from './batcher';
import type { PgDb } from './db';
import { isUnavailable, mapPgError } from './errors';
import { toRecord, type KeyRow } from './idempotency';

const MAX_STREAM_ID = 256;
export const COMMIT_CHANNEL = 'cpreg_commit';

interface Head {
  position: number;
  hash: Buffer;
}

interface StreamState {
  version: number;
  kind: string;
  /** The stream had a row before this transaction (UPDATE), or is new in it (INSERT). */
  inDb: boolean;
}

/** What one transaction writes, gathered while its groups are decided in memory. */
interface Writes {
  events: {
    position: number;
    streamId: string;
    version: number;
    type: string;
    schemaVersion: number;
    dataText: string;
    metadataText: string;
    hash: Buffer;
  }[];
  /** Final version, kind and labels (null: unchanged) of every stream the batch moved. */
  streams: Map<string, { version: number; kind: string; labelsText: string | null; inDb: boolean }>;
  /** Final labels of the streams whose labels were given. */
  labels: Map<string, Record<string, string>>;
  keys: IdempotencyRecord[];
}

/** The state of one transaction after its head lock: what each group is checked against. */
interface BatchState {
  head: Head;
  streams: Map<string, StreamState>;
  keys: Map<string, IdempotencyRecord>;
  now: string;
}

/**
 * Writes batches of append groups, one transaction per batch:
 *
 *   BEGIN
 *   SELECT … FROM event_head FOR UPDATE        -- the one lock every append takes, on every node
 *   SELECT the batch's streams and keys         -- a new snapshot, taken after the lock: exact
 *   (decide every group in memory: versions, keys, positions, the hash chain)
 *   one statement: streams, labels, events, keys, event_head, pg_notify
 *   COMMIT                                      -- synchronous_commit on: returns once flushed
 *
 * The head row lock is held until COMMIT returns, so two transactions that append can never
 * interleave: the positions and chain links a transaction gives follow those of the one before
 * it, and commit order is position order. A group that fails (version conflict, key reused
 * with another request, a bad event) fails alone: its writes are never added to the batch.
 */
export class PgAppender {
  /** Transactions run, each under the head lock (for tests and the bench; one with nothing to write ends in ROLLBACK). */
  commits = 0;

  constructor(
    private readonly db: PgDb,
    private readonly nodeId: string,
  ) {}

  /**
   * Longest time a batch that met a version conflict keeps the head lock for the retries of
   * its losers (ms): the command handler decides them again on fresh state and appends at once.
   * The wait itself follows how long retries take (retryMs); on a loaded machine a retry took
   * over 20 ms, missed every window, and a write lost 21 times in a row (a 409).
   */
  conflictHoldMs = 100;
  /** How long the retries took to come (a moving average, ms). */
  private retryMs = 5;

  async runBatch(
    groups: readonly AppendGroup[],
    hooks?: BatchHooks<AppendGroup, AppendGroupResult>,
  ): Promise<Outcome<AppendGroupResult>[]> {
    // the batch as it grows (hooks.more), and the outcomes already answered (hooks.settle)
    const all = [...groups];
    const settled = new Map<number, Outcome<AppendGroupResult>>();
    const h: Hold | undefined =
      !hooks || this.conflictHoldMs <= 0
        ? undefined
        : {
            settle: (k, o) => {
              settled.set(k, o);
              hooks.settle(k, o);
            },
            more: async (ms, atLeast) => {
              const m = await hooks.more(ms, atLeast);
              all.push(...m);
              return m;
            },
          };
    try {
      return await this.attempt(all, settled, h);
    } catch (e) {
      // Only a value the server refused to store (data exception, constraint, a limit) is one
      // group's fault; anything else (unreachable, a lock wait that timed out) fails the batch.
      const code = (e as { code?: unknown }).code;
      if (all.length === 1 || typeof code !== 'string' || !/^(22|23|54)/.test(code)) throw e;
      // Find the group alone: each in a transaction of its own.
      const out: Outcome<AppendGroupResult>[] = [];
      for (const [k, g] of all.entries()) {
        const done = settled.get(k);
        if (done) {
          out.push(done);
          continue;
        }
        try {
          const [o] = await this.attempt([g], new Map());
          out.push(o!); // one group in, one outcome out
        } catch (error) {
          if (isUnavailable(error)) throw error;
          out.push({ ok: false, error });
        }
      }
      return out;
    }
  }

  /**
   * A connection lost before COMMIT was sent committed nothing: the batch is tried once more on
   * a fresh connection (one the pool still held from before a server restart fails at BEGIN).
   */
  private async attempt(
    all: AppendGroup[],
    settled: Map<number, Outcome<AppendGroupResult>>,
    hold?: Hold,
  ): Promise<Outcome<AppendGroupResult>[]> {
    try {
      return await this.transaction(all, settled, hold);
    } catch (e) {
      if (isUnavailable(e) && (e as { outcomeUnknown?: boolean }).outcomeUnknown !== true)
        return this.transaction(all, settled);
      throw e;
    }
  }

  private async transaction(
    all: AppendGroup[],
    settled: Map<number, Outcome<AppendGroupResult>>,
    hold?: Hold,
  ): Promise<Outcome<AppendGroupResult>[]> {
    const c = await this.db.acquire();
    let committing = false;
    try {
      const [, h, pre] = (await c.query(
        'BEGIN; SELECT position, hash FROM event_head FOR UPDATE; ' + lookupSql(c, all),
      )) as unknown as [unknown, { rows: { position: number; hash: Buffer }[] }, { rows: LookupRow[] }];
      // One round trip, three statements. Under READ COMMITTED each statement takes its own
      // snapshot, so the third, which runs once the head lock is ours, sees every append
      // committed before us (by any node): the versions and keys it reads are exact.
      const headRow = h.rows[0];
      if (!headRow) throw new Error('event_head has no row: the schema is damaged');
      const row = pre.rows[0]!; // a SELECT without FROM returns one row
      const st: BatchState = {
        head: { position: headRow.position, hash: headRow.hash },
        streams: new Map(),
        keys: new Map(),
        now: row.now,
      };
      learn(st, row);
      const writes: Writes = { events: [], streams: new Map(), labels: new Map(), keys: [] };
      const decide = (g: AppendGroup, k: number): Outcome<AppendGroupResult> => {
        const done = settled.get(k);
        if (done) return done;
        try {
          return { ok: true, value: this.appendGroup(g, st, writes) };
        } catch (error) {
          return { ok: false, error };
        }
      };
      const out = all.map(decide);
      // Fairness: the losers of a version conflict are answered now, and this transaction keeps
      // the head lock a moment for their retries (decided again on the state they lost to),
      // which then cannot lose again to the node that beat them.
      for (let round = 0, from = 0; hold && round < 3; round++) {
        const lost = out.flatMap((o, k) =>
          k >= from && !o.ok && o.error instanceof ConcurrencyError && !settled.has(k) ? [k] : [],
        );
        if (!lost.length) break;
        for (const k of lost) hold.settle(k, out[k]!);
        // three times as long as retries have been taking, 10 ms at least, conflictHoldMs at most
        const t0 = performance.now();
        const more = await hold.more(Math.min(this.conflictHoldMs, Math.max(10, 3 * this.retryMs)), lost.length);
        // learn how long retries take; one that missed the window took longer: wait twice as long next time
        if (more.length) this.retryMs = 0.8 * this.retryMs + 0.2 * (performance.now() - t0);
        else this.retryMs = Math.min(this.conflictHoldMs, 2 * Math.max(this.retryMs, 5));
        if (!more.length) break;
        from = out.length;
        const extra = await c.query<LookupRow>(lookupSql(c, more));
        learn(st, extra.rows[0]!);
        for (const g of more) out.push(decide(g, out.length));
      }
      if (writes.events.length === 0 && writes.keys.length === 0) {
        await c.query('ROLLBACK'); // nothing to write: let the next appender in at once
        this.commits++;
        c.release();
        return out;
      }
      // The writes and COMMIT in one message (one round trip): the lock is held for one less
      // wait on this node's event loop. A failure in the writes skips the COMMIT (the
      // transaction is aborted, rolled back below); a connection lost meanwhile may have
      // committed or not.
      committing = true;
      await c.query(
        inlineParams(WRITE_SQL, writeParams(writes, st, this.nodeId), (t) => c.escapeLiteral(t)) + '; COMMIT',
      );
      this.commits++;
      c.release();
      return out;
    } catch (e) {
      if (isUnavailable(e)) {
        c.release(e instanceof Error ? e : true);
        throw mapPgError(e, committing);
      }
      await c.query('ROLLBACK').catch(() => undefined);
      c.release();
      throw e;
    }
  }

  private appendGroup(group: AppendGroup, st: BatchState, writes: Writes): AppendGroupResult {
    const idem = group.idempotency;
    if (idem) {
      // The one place a key is enforced: inside the transaction that would record it.
      const rec = st.keys.get(idem.key);
      if (rec) {
        if (rec.requestHash !== idem.requestHash) throw new IdempotencyConflictError(idem.key);
        return { replayed: true, record: rec };
      }
    }
    if (group.appends.length === 0) throw new TypeError('an append group needs at least one stream');
    const metadataText = canonicalJson({ ...group.metadata, recordedAt: st.now });
    const metadata = JSON.parse(metadataText) as MetadataInput & { recordedAt: string };
    const streams: StreamAppended[] = [];
    const firstPosition = st.head.position + 1;
    let head = st.head;
    const seen = new Set<string>();
    // Everything is decided before anything is kept: a group that throws leaves no trace.
    const moved: { a: StreamAppend; version: number; kind: string; labelsText: string | null; prior?: StreamState }[] =
      [];
    const events: Writes['events'] = [];
    for (const a of group.appends) {
      checkStreamId(a.streamId);
      if (seen.has(a.streamId)) throw new TypeError(`stream ${a.streamId} appears twice in one group`);
      seen.add(a.streamId);
      const prior = st.streams.get(a.streamId);
      const actual = prior?.version ?? 0;
      checkExpected(a.streamId, a.expectedVersion, actual);
      if (a.events.length === 0) {
        streams.push({ streamId: a.streamId, version: actual, events: [] });
        continue;
      }
      const kind = a.kind ?? 'vcpu';
      checkText([kind], 'a stream kind');
      if (prior && prior.kind !== kind) throw new TypeError(`stream ${a.streamId} is a ${prior.kind}, not a ${kind}`);
      if (a.labels) checkText(Object.entries(a.labels).flat(), 'a label');
      const labelsText = a.labels ? canonicalJson(a.labels) : null;
      const stored: StoredEvent[] = [];
      let { position, hash } = head;
      for (let k = 0; k < a.events.length; k++) {
        const e = a.events[k]!;
        checkText([e.type], 'an event type');
        position++;
        const v = actual + k + 1;
        const dataText = e.dataText ?? canonicalJson(e.data);
        const text = canonicalEventText({
          position,
          streamId: a.streamId,
          version: v,
          type: e.type,
          schemaVersion: e.schemaVersion,
          dataText,
          metadataText,
        });
        hash = chainHash(hash, text);
        events.push({
          position,
          streamId: a.streamId,
          version: v,
          type: e.type,
          schemaVersion: e.schemaVersion,
          dataText,
          metadataText,
          hash,
        });
        stored.push({
          position,
          streamId: a.streamId,
          version: v,
          type: e.type,
          schemaVersion: e.schemaVersion,
          data: JSON.parse(dataText),
          metadata,
          hash: hash.toString('hex'),
        });
      }
      head = { position, hash };
      const version = actual + a.events.length;
      moved.push({ a, version, kind, labelsText, ...(prior ? { prior } : {}) });
      streams.push({ streamId: a.streamId, version, events: stored });
    }
    let record: IdempotencyRecord | undefined;
    if (idem) {
      const first = streams[0]!; // appends is not empty
      record = {
        key: idem.key,
        requestHash: idem.requestHash,
        streamId: first.streamId,
        fromVersion: first.events[0]?.version ?? first.version + 1,
        toVersion: first.version,
        firstPosition,
        lastPosition: head.position,
        ...(idem.resultText === undefined ? {} : { resultText: idem.resultText }),
      };
      checkText([idem.key, idem.requestHash], 'an idempotency key');
    }
    // The group holds: keep its writes and move the batch's state past it.
    st.head = head;
    writes.events.push(...events);
    for (const m of moved) {
      const inDb = m.prior?.inDb ?? false;
      st.streams.set(m.a.streamId, { version: m.version, kind: m.kind, inDb });
      const before = writes.streams.get(m.a.streamId);
      writes.streams.set(m.a.streamId, {
        version: m.version,
        kind: m.kind,
        labelsText: m.labelsText ?? before?.labelsText ?? null,
        inDb,
      });
      if (m.a.labels) writes.labels.set(m.a.streamId, m.a.labels);
    }
    if (record) {
      st.keys.set(record.key, record);
      writes.keys.push(record);
    }
    return { replayed: false, streams };
  }
}

type Hold = BatchHooks<AppendGroup, AppendGroupResult>;

interface LookupRow {
  now: string;
  streams: [string, number, string][];
  keys: KeyRow[];
}

/**
 * The server's time, and the streams and idempotency keys the groups name (one statement). A
 * stream's version is its log's head (one index seek), not streams.version, which a raw edit
 * could lower: the next append would then collide with the newest event's version.
 */
function lookupSql(c: { escapeLiteral(s: string): string }, groups: readonly AppendGroup[]): string {
  const usable = (v: unknown): v is string => typeof v === 'string' && v.length <= 1024 && !v.includes('\u0000');
  const ids = [...new Set(groups.flatMap((g) => g.appends.map((a) => a.streamId)))].filter(usable);
  const keys = [...new Set(groups.flatMap((g) => (g.idempotency ? [g.idempotency.key] : [])))].filter(usable);
  const list = (xs: string[]) => (xs.length ? `ARRAY[${xs.map((x) => c.escapeLiteral(x)).join(',')}]` : "'{}'::text[]");
  return `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS now,
    (SELECT COALESCE(json_agg(json_build_array(s.stream_id,
        COALESCE((SELECT MAX(e.version) FROM events e WHERE e.stream_id = s.stream_id), 0), s.kind)), '[]')
      FROM streams s WHERE s.stream_id = ANY(${list(ids)})) AS streams,
    (SELECT COALESCE(json_agg(k), '[]') FROM idempotency_keys k WHERE key = ANY(${list(keys)})) AS keys`;
}

/** What a lookup found, for the streams and keys the batch does not know yet. */
function learn(st: BatchState, row: LookupRow): void {
  for (const [id, version, kind] of row.streams)
    if (!st.streams.has(id)) st.streams.set(id, { version, kind, inDb: true });
  for (const k of row.keys) if (!st.keys.has(k.key)) st.keys.set(k.key, toRecord(k));
}

/**
 * Every write of a batch in one statement (one round trip). The sub-statements touch disjoint
 * rows; foreign keys are checked at the end of the statement, when the new streams exist.
 */
const WRITE_SQL = `WITH
  ins AS (
    INSERT INTO streams (stream_id, version, created_at, updated_at, labels, kind)
    SELECT id, v, $1, $1, COALESCE(l, '{}'), k FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[]) AS u(id, v, l, k)),
  upd AS (
    UPDATE streams s SET version = u.v, updated_at = $1, labels = COALESCE(u.l, s.labels)
    FROM unnest($6::text[], $7::bigint[], $8::text[]) AS u(id, v, l) WHERE s.stream_id = u.id),
  dl AS (
    DELETE FROM stream_labels d WHERE d.stream_id = ANY($9::text[])
      AND NOT EXISTS (SELECT 1 FROM unnest($10::text[], $11::text[]) AS n(id, k) WHERE n.id = d.stream_id AND n.k = d.key)),
  il AS (
    INSERT INTO stream_labels (stream_id, key, value) SELECT * FROM unnest($10::text[], $11::text[], $12::text[])
    ON CONFLICT (stream_id, key) DO UPDATE SET value = excluded.value),
  ev AS (
    INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, hash)
    SELECT * FROM unnest($13::bigint[], $14::text[], $15::bigint[], $16::text[], $17::integer[], $18::text[], $19::text[], $20::bytea[])),
  ik AS (
    INSERT INTO idempotency_keys (key, request_hash, stream_id, from_version, to_version, first_position, last_position, result, created_at)
    SELECT *, $1 FROM unnest($21::text[], $22::text[], $23::text[], $24::bigint[], $25::bigint[], $26::bigint[], $27::bigint[], $28::text[])),
  hd AS (UPDATE event_head SET position = $29, hash = $30)
SELECT pg_notify('${COMMIT_CHANNEL}', $31)`;

function writeParams(w: Writes, st: BatchState, nodeId: string): unknown[] {
  const created = [...w.streams].filter(([, s]) => !s.inDb);
  const updated = [...w.streams].filter(([, s]) => s.inDb);
  const labelled = [...w.labels];
  const labelRows = labelled.flatMap(([id, labels]) => Object.entries(labels).map(([k, v]) => [id, k, v] as const));
  const e = w.events;
  return [
    st.now,
    created.map(([id]) => id),
    created.map(([, s]) => s.version),
    created.map(([, s]) => s.labelsText),
    created.map(([, s]) => s.kind),
    updated.map(([id]) => id),
    updated.map(([, s]) => s.version),
    updated.map(([, s]) => s.labelsText),
    labelled.map(([id]) => id),
    labelRows.map((r) => r[0]),
    labelRows.map((r) => r[1]),
    labelRows.map((r) => r[2]),
    e.map((x) => x.position),
    e.map((x) => x.streamId),
    e.map((x) => x.version),
    e.map((x) => x.type),
    e.map((x) => x.schemaVersion),
    e.map((x) => x.dataText),
    e.map((x) => x.metadataText),
    e.map((x) => x.hash),
    w.keys.map((k) => k.key),
    w.keys.map((k) => k.requestHash),
    w.keys.map((k) => k.streamId),
    w.keys.map((k) => k.fromVersion),
    w.keys.map((k) => k.toVersion),
    w.keys.map((k) => k.firstPosition),
    w.keys.map((k) => k.lastPosition),
    w.keys.map((k) => k.resultText ?? null),
    st.head.position,
    st.head.hash,
    `${nodeId} ${st.head.position}`,
  ];
}

/**
 * The statement with its $n parameters written as SQL literals (the simple protocol carries
 * several statements in one message; the extended one, parameters, only one). Strings go
 * through the driver's escapeLiteral, numbers are integers, Buffers are decoded from hex.
 */
export function inlineParams(text: string, params: readonly unknown[], escape: (s: string) => string): string {
  const literal = (v: unknown): string => {
    if (v === null || v === undefined) return 'NULL';
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new TypeError(`not an integer: ${v}`);
      return String(v);
    }
    if (typeof v === 'string') return escape(v);
    if (Buffer.isBuffer(v)) return `decode('${v.toString('hex')}', 'hex')`;
    if (Array.isArray(v)) return v.length ? `ARRAY[${v.map(literal).join(',')}]` : "'{}'";
    throw new TypeError(`cannot write a ${typeof v} as SQL`);
  };
  return text.replace(/\$(\d+)/g, (_, n: string) => {
    const i = Number(n) - 1;
    if (i < 0 || i >= params.length) throw new RangeError(`no parameter $${n}`);
    return literal(params[i]);
  });
}

function checkStreamId(streamId: unknown): asserts streamId is string {
  if (typeof streamId !== 'string' || streamId.length === 0 || streamId.length > MAX_STREAM_ID) {
    throw new TypeError(`stream id must be a string of 1..${MAX_STREAM_ID} characters`);
  }
  checkText([streamId], 'a stream id');
}

/** PostgreSQL text cannot hold U+0000; refused here so the group fails alone, before the server. */
function checkText(values: readonly string[], what: string): void {
  for (const v of values) {
    if (typeof v !== 'string') throw new TypeError(`${what} must be a string`);
    if (v.includes('\u0000')) throw new TypeError(`${what} must not contain U+0000`);
  }
}

function checkExpected(streamId: string, expected: ExpectedVersion, actual: number): void {
  if (expected === 'any') return;
  const want = expected === 'no-stream' ? 0 : expected;
  if (typeof want !== 'number' || !Number.isInteger(want) || want < 0) {
    throw new TypeError(`expected version must be 'any', 'no-stream' or a version ≥ 0`);
  }
  if (want !== actual) throw new ConcurrencyError(streamId, expected, actual);
}
