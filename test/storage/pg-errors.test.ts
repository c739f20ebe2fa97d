import { storageProblem } from '../../api/storage-problems';
import { DatabaseUnavailableError, isUnavailable, mapPgError } from '../../storage/postgres/errors';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('PostgreSQL failures as problems', () => {
  test.each([
    ['57P01', 'terminating connection due to administrator command'],
    ['57P02', 'terminating connection because of crash of another server process'],
    ['57P03', 'the database system is starting up'],
    ['08006', 'connection failure'],
    ['08001', 'could not connect'],
    ['53300', 'too many connections'],
    ['ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'],
    ['ECONNRESET', 'read ECONNRESET'],
  ])('%s: the database is unavailable → 503 database-unavailable with Retry-After', (code, message) => {
    const e = mapPgError(pgError(code, message));
    expect(e).toBeInstanceOf(DatabaseUnavailableError);
    expect(e).toMatchObject({ code });
    expect(storageProblem(e)).toMatchObject({
      type: 'urn:cpreg-ledger:problem:database-unavailable',
      status: 503,
      retryAfter: 2,
      detail: 'the database cannot be reached now; nothing was recorded, try again',
    });
  });

  test("node-postgres's own connection failures carry no code: they get 08006", () => {
    for (const m of ['Connection terminated unexpectedly', 'timeout exceeded when trying to connect']) {
      expect(isUnavailable(new Error(m))).toBe(true);
      expect(mapPgError(new Error(m))).toMatchObject({ code: '08006' });
    }
  });

  test('a connection lost during COMMIT: 503, and the answer says the write may have been recorded', () => {
    const p = storageProblem(mapPgError(pgError('57P01'), true));
    expect(p).toMatchObject({ status: 503, type: 'urn:cpreg-ledger:problem:database-unavailable' });
    expect(p?.detail).toMatch(/may or may not have been recorded \(retry with its Idempotency-Key\)/);
  });

  test('a lock wait that timed out is database-busy; a statement error is not a storage problem', () => {
    expect(storageProblem(pgError('55P03'))).toMatchObject({
      status: 503,
      type: 'urn:cpreg-ledger:problem:database-busy',
      detail: 'another node holds the database lock; nothing was recorded, try again',
    });
    expect(mapPgError(pgError('23505'))).not.toBeInstanceOf(DatabaseUnavailableError);
    expect(storageProblem(pgError('23505'))).toBeUndefined();
    expect(storageProblem(pgError('53100'))).toMatchObject({ status: 507 });
  });
});
