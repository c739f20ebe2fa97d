import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { SqliteEventStore } from '../storage/sqlite/sqlite-event-store';
import { PostgresEventStore } from '../storage/postgres/postgres-event-store';
import { redactUrl } from '../storage/postgres/db';
import { SnapshotSeal, type SnapshotRejection } from '../storage/snapshot-seal';
import { CpregService } from '../app/service';
import { createApp } from './app';
import { withFastLane } from './fast-lane';
import { capConnections } from './limits';
import { Metrics } from './metrics';
import { Readiness } from './readiness';
import { loadTokens } from './auth';
import type { Config } from './config';
import type { AppContext } from './context';
import type { Logger } from './logging';

export interface RunningServer {
  server: http.Server;
  url: string;
  /** Stop accepting, finish in-flight requests, end feeds, close the database. */
  close: () => Promise<void>;
}

/** Opens the database and serves the API; resolves once listening. */
export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const metrics = new Metrics();
  // Snapshots sealed under a key derived from the signing key: shared by the nodes holding it,
  // kept across restarts; without one, SQLite's key file beside the database, or (PostgreSQL) a
  // key of this process only (storage/snapshot-seal.ts).
  // The signing key is read once: the snapshot seal and the audit checkpoints use the same bytes.
  const signingKeyPem = config.signingKeyFile === undefined ? undefined : fs.readFileSync(config.signingKeyFile);
  const snapshots = {
    ...(signingKeyPem !== undefined
      ? { snapshotSeal: SnapshotSeal.fromSigningKeyPem(signingKeyPem) }
      : config.databaseUrl || config.dbPath === ':memory:'
        ? {}
        : { snapshotSeal: SnapshotSeal.besideDatabase(config.dbPath) }),
    onSnapshotRejected: (r: SnapshotRejection) =>
      logger.error(
        { snapshot: r },
        `SNAPSHOT REFUSED: ${r.streamId}@${r.version}: ${r.reason}; the state is folded from the log instead`,
      ),
  };
  // CPREG_DATABASE_URL: PostgreSQL (several nodes may share it; its migrations are in <dir>/postgres)
  const store = config.databaseUrl
    ? await PostgresEventStore.open({
        url: config.databaseUrl,
        ...snapshots,
        observer: metrics.storeObserver(),
        onError: (e) => logger.warn({ err: e }, 'database connection lost; the store reconnects by itself'),
        ...(config.migrationsDir === undefined ? {} : { migrationsDir: path.join(config.migrationsDir, 'postgres') }),
      })
    : (fs.mkdirSync(path.dirname(config.dbPath), { recursive: true }),
      new SqliteEventStore({
        ...snapshots,
        observer: metrics.storeObserver(),
        file: config.dbPath,
        busyTimeoutMs: config.limits.dbBusyTimeoutMs,
        ...(config.migrationsDir === undefined ? {} : { migrationsDir: config.migrationsDir }),
      }));
  const database = config.databaseUrl ? redactUrl(config.databaseUrl) : config.dbPath;
  const service = new CpregService(store, {
    snapshotEvery: config.snapshotEvery,
    onSnapshot: () => metrics.snapshots.inc(),
    onCache: (hit) => metrics.cache.inc({ result: hit ? 'hit' : 'miss' }),
    onSnapshotError: (e) => logger.warn({ err: e }, 'snapshot write failed (snapshots are only a cache)'),
    audit: {
      ...(signingKeyPem === undefined ? {} : { signingKeyPem }),
      every: config.checkpointEvery,
      seconds: config.checkpointSeconds,
      onAlarm: (detail, err) => logger.error({ err, audit: detail }, detail),
    },
  });
  const tokens = config.tokensFile ? loadTokens(config.tokensFile) : undefined;
  const shutdownHooks: Array<() => void> = [];
  const ctx: AppContext = {
    service,
    logger,
    ...(tokens ? { tokens } : {}),
    streamLimit: config.streamLimit,
    rewriteHoldBack: config.rewriteHoldBack,
    limits: config.limits,
    readiness: new Readiness(),
    metrics,
    onShutdown: (fn) => shutdownHooks.push(fn),
  };
  // the hot writes are served below express when they are plain (api/fast-lane.ts)
  const server = http.createServer(withFastLane(ctx, createApp(ctx)));
  server.keepAliveTimeout = 65_000;
  // A multi-GB migration stream may take longer than Node's default 300 s to upload: the time
  // limit is per request (CPREG_REQUEST_TIMEOUT_MS); stalled headers are still cut at 60 s.
  server.requestTimeout = config.requestTimeoutMs;
  // Headers must come quickly; bodies have their own bounds (api/limits.ts, stream-body.ts).
  server.headersTimeout = Math.min(20_000, config.requestTimeoutMs);
  capConnections(server, config.limits.maxConnections);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const addr = server.address() as { port: number };
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${addr.port}`;
  const loopback = /^(127\.|localhost$|::1$|\[::1\]$)/.test(config.host);
  logger.info(
    { url, auth: tokens ? 'on' : 'off', database },
    `cpreg-ledger listening on ${url}; auth ${tokens ? `on (${tokens.length} tokens)` : `OFF (no CPREG_TOKENS_FILE)${loopback ? ', loopback only' : ' — OPEN on a non-loopback address'}`}; database ${database}`,
  );
  let closing: Promise<void> | undefined;
  let shuttingDown = false;
  // While shutting down, every answer closes its connection, so keep-alive clients let go.
  // (First among the 'request' listeners: an answer the app sends at once must still carry it.)
  server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    if (shuttingDown && !res.headersSent) res.setHeader('Connection', 'close');
  });
  const close = () =>
    (closing ??= (async () => {
      shuttingDown = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      shutdownHooks.forEach((fn) => fn());
      // In-flight requests finish; their connections are closed as soon as they go idle, and
      // whatever still hangs after the grace period (a stalled upload) is cut.
      const sweep = setInterval(() => server.closeIdleConnections(), 50);
      const deadline = setTimeout(() => server.closeAllConnections(), config.shutdownGraceMs);
      server.closeIdleConnections();
      await stopped;
      clearInterval(sweep);
      clearTimeout(deadline);
      await service.close();
      logger.info('cpreg-ledger stopped');
      logger.flush();
    })());
  return { server, url, close };
}
