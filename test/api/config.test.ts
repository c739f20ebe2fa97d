import * as fs from 'node:fs';
import * as path from 'node:path';
import { configFromEnv, ConfigError, DEFAULTS, VARIABLES } from '../../api/config';

describe('configuration (one module, parsed from the environment)', () => {
  test('defaults when nothing is set; an empty variable counts as unset', () => {
    const c = configFromEnv({ PORT: '', LOG_LEVEL: '' });
    expect(c).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      dbPath: path.resolve('data/cpreg.db'),
      snapshotEvery: 100,
      logLevel: 'info',
      shutdownGraceMs: 10_000,
      streamLimit: DEFAULTS.streamLimit,
      rewriteHoldBack: DEFAULTS.rewriteHoldBack,
    });
    expect(c.tokensFile).toBeUndefined();
  });

  test('values are parsed', () => {
    const c = configFromEnv({
      HOST: '::1',
      PORT: '0',
      CPREG_DB: '/x/y.db',
      CPREG_SNAPSHOT_EVERY: '7',
      LOG_LEVEL: 'debug',
      CPREG_SHUTDOWN_GRACE_MS: '250',
      CPREG_STREAM_LIMIT: '100000',
      CPREG_REWRITE_HOLDBACK: '4096',
    });
    expect(c).toMatchObject({ host: '::1', port: 0, dbPath: '/x/y.db', snapshotEvery: 7, logLevel: 'debug' });
    expect([c.shutdownGraceMs, c.streamLimit, c.rewriteHoldBack]).toEqual([250, 100000, 4096]);
  });

  test.each([
    ['PORT', '70000'],
    ['PORT', 'http'],
    ['CPREG_SNAPSHOT_EVERY', 'abc'],
    ['CPREG_SNAPSHOT_EVERY', '0'],
    ['LOG_LEVEL', 'verbose'],
    ['CPREG_SHUTDOWN_GRACE_MS', '-1'],
    ['CPREG_SHUTDOWN_GRACE_MS', '1e3'],
    ['CPREG_REQUEST_TIMEOUT_MS', '5'],
    ['CPREG_STREAM_LIMIT', '0'],
    ['CPREG_REWRITE_HOLDBACK', 'lots'],
    ['HOST', 'a b'],
  ])('a bad %s (%s) refuses to start with one line naming it', (name, value) => {
    let err: unknown;
    try {
      configFromEnv({ [name]: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message.startsWith(`${name} `)).toBe(true);
    expect(message).toContain(JSON.stringify(value));
    expect(message).not.toContain('\n');
  });

  test('every variable the service reads is in the README table', () => {
    const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
    for (const v of VARIABLES) expect(readme).toContain(`| \`${v}\` |`);
  });
});
