/**
 * What a PostgreSQL failure means to a caller. node-postgres reports a server's refusal with its
 * SQLSTATE in `code` ('57P01' admin shutdown, '08006' connection failure …), a socket's with an
 * errno `code` (ECONNREFUSED …), and a few of its own failures (a connection that ended, a pool
 * that timed out) with no code at all. Every error leaving the store has a `code` the API maps
 * (api/storage-problems.ts): the database unreachable → 503 `database-unavailable`, a lock wait
 * that timed out → 503 `database-busy`.
 */

/** SQLSTATEs and errnos meaning "the database cannot be reached now": retry later. */
const UNAVAILABLE_SQLSTATE = /^(08\d{3}|57P0[1-4]|53300)$/;
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
]);
/** node-postgres's own connection failures, which carry no code. */
const UNAVAILABLE_MESSAGE =
  /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Client was closed|server closed the connection/i;

/** The code given to a connection failure that came without one (SQLSTATE connection_failure). */
export const CONNECTION_FAILURE = '08006';

/** True when `e` says the database is unreachable (down, restarting, network), not that a statement failed. */
export function isUnavailable(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code);
  return e instanceof Error && UNAVAILABLE_MESSAGE.test(e.message);
}

/**
 * The database could not be reached (or went away during the call). `code` is the server's
 * SQLSTATE or the socket's errno, `08006` when node-postgres gave none. `outcomeUnknown` is set
 * when the connection was lost while a COMMIT was in flight: the write may or may not have been
 * recorded, and only a retry with the same Idempotency-Key is safe.
 */
export class DatabaseUnavailableError extends Error {
  readonly code: string;
  readonly outcomeUnknown: boolean;

  constructor(cause: unknown, outcomeUnknown = false) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`the database is unavailable: ${why}`, { cause });
    this.name = 'DatabaseUnavailableError';
    const code = (cause as { code?: unknown } | null)?.code;
    this.code = typeof code === 'string' ? code : CONNECTION_FAILURE;
    this.outcomeUnknown = outcomeUnknown;
  }
}

/** A connection failure becomes a DatabaseUnavailableError; anything else passes unchanged. */
export function mapPgError(e: unknown, outcomeUnknown = false): unknown {
  if (e instanceof DatabaseUnavailableError) return e;
  return isUnavailable(e) ? new DatabaseUnavailableError(e, outcomeUnknown) : e;
}
