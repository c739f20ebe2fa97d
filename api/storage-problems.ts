import { problemType, type Problem } from './problem';

/**
 * Failures of the disk or the database, each its own problem: the client learns whether to wait
 * (503 with Retry-After: busy, read-only, I/O, unavailable) or that the disk is full (507).
 * SQLite reports them as SqliteError codes; the WAL sync as errno codes; PostgreSQL as SQLSTATEs
 * and socket errnos.
 */
export function storageProblem(err: unknown): Problem | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  // A body the client stopped sending (body-parser's 'request.aborted', code ECONNABORTED) is
  // the client's socket, not the database's: never a reason to report the store unavailable.
  if (isBodyReadError(err)) return undefined;
  const p = problemOf(code);
  if (p && PG_UNAVAILABLE.test(code)) {
    // PostgreSQL unreachable (storage/postgres/errors.ts): the write was not recorded, unless
    // the connection was lost while its COMMIT was in flight.
    if ((err as { outcomeUnknown?: unknown }).outcomeUnknown === true) p.detail = MAYBE_RECORDED;
    return p;
  }
  // An SQLite error rolled its transaction back; an errno comes from the WAL sync after COMMIT,
  // so the write may be on disk or not: only a retry with the same Idempotency-Key is safe.
  if (p && !code.startsWith('SQLITE_') && !PG_REFUSED.test(code)) {
    p.detail = p.detail.replace(
      'nothing was recorded',
      'the write may or may not be durable (retry with its Idempotency-Key)',
    );
  }
  return p;
}

/** body-parser's and raw-body's errors carry a `type` (request.aborted, entity.too.large, …). */
function isBodyReadError(err: unknown): boolean {
  const type = (err as { type?: unknown }).type;
  return typeof type === 'string' && (type.startsWith('request.') || type.startsWith('entity.'));
}

/**
 * PostgreSQL cannot be reached (storage/postgres/errors.ts): its SQLSTATEs of connection loss
 * and shutdown (08xxx, 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now,
 * 57P04, 53300 too many connections) and the socket's errnos.
 */
const PG_UNAVAILABLE =
  /^(08[0-9A-Z]{3}|57P0[1-4]|53300|ECONNREFUSED|ECONNRESET|ECONNABORTED|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|EAI_AGAIN|ENOTFOUND)$/;
/** PostgreSQL refused before writing anything: 55P03 lock wait timed out, 40001/40P01 conflicts, 53100 disk full. */
const PG_REFUSED = /^(55P03|40001|40P01|53100)$/;
const MAYBE_RECORDED =
  'the connection to the database was lost while the write was committing: it may or may not have been recorded (retry with its Idempotency-Key)';

function problemOf(code: string): Problem | undefined {
  if (PG_UNAVAILABLE.test(code)) {
    return {
      type: problemType('database-unavailable'),
      title: 'Database unavailable',
      status: 503,
      detail: 'the database cannot be reached now; nothing was recorded, try again',
      retryAfter: 2,
    };
  }
  if (code === '55P03' || code === '40001' || code === '40P01') {
    return {
      type: problemType('database-busy'),
      title: 'Database busy',
      status: 503,
      detail: 'another node holds the database lock; nothing was recorded, try again',
      retryAfter: 1,
    };
  }
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT' || code === '53100') {
    return {
      type: problemType('storage-full'),
      title: 'Insufficient storage',
      status: 507,
      detail: 'the database disk is full; nothing was recorded',
    };
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return {
      type: problemType('database-busy'),
      title: 'Database busy',
      status: 503,
      detail: 'another process holds the database lock; nothing was recorded, try again',
      retryAfter: 1,
    };
  }
  if (code.startsWith('SQLITE_READONLY') || code === 'EROFS') {
    return {
      type: problemType('database-read-only'),
      title: 'Database read-only',
      status: 503,
      detail: 'the database cannot be written now; nothing was recorded',
      retryAfter: 30,
    };
  }
  if (code.startsWith('SQLITE_IOERR') || code === 'EIO' || code === 'SQLITE_CANTOPEN') {
    return {
      type: problemType('storage-error'),
      title: 'Storage error',
      status: 503,
      detail: 'the database could not be read or written; nothing was recorded',
      retryAfter: 5,
    };
  }
  return undefined;
}
