import { problemType, type Problem } from './problem';

/**
 * Failures of the disk or the database, each its own problem: the client learns whether to wait
 * (503 with Retry-After: busy, read-only, I/O) or that the disk is full (507). SQLite reports
 * them as SqliteError codes; the WAL sync as errno codes.
 */
export function storageProblem(err: unknown): Problem | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  const p = problemOf(code);
  // An SQLite error rolled its transaction back; an errno comes from the WAL sync after COMMIT,
  // so the write may be on disk or not: only a retry with the same Idempotency-Key is safe.
  if (p && !code.startsWith('SQLITE_')) {
    p.detail = p.detail.replace(
      'nothing was recorded',
      'the write may or may not be durable (retry with its Idempotency-Key)',
    );
  }
  return p;
}

function problemOf(code: string): Problem | undefined {
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') {
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
