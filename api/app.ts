import express, { type NextFunction, type Request, type Response } from 'express';
import { DomainError } from '../domain/errors';
import {
  ConcurrencyError,
  IdempotencyConflictError,
  NotFoundError,
  PreconditionFailedError,
  Refused,
  QemuWouldRefuseError,
} from '../app/errors';
import { authenticate } from './auth';
import { findingView } from './finding-view';
import { infoOf } from './views';
import { formatRegId } from '../domain/regid';
import type { VcpuState } from '../domain/vcpu';
import { noteAnswer, type AppContext } from './context';
import { bodyDeadline, concurrencyCap, isStreamUpload } from './limits';
import { requestContext } from './logging';
import { Metrics } from './metrics';
import { laneErrors } from './handover';
import { storageProblem } from './storage-problems';
import { domainProblem, HttpProblem, httpProblem, notFound, problemType, sendProblem, type Problem } from './problem';
import { auditRoutes } from './routes/audit';
import { cpuRoutes } from './routes/cpus';
import { historyRoutes } from './routes/history';
import { migrationRoutes } from './routes/migration';
import { compatibilityRoutes } from './routes/compatibility';
import { hostProfileRoutes } from './routes/host-profiles';
import { qemuConvertRoutes } from './routes/qemu-convert';
import { qemuStreamRoutes } from './routes/qemu-streams';
import { registerRoutes } from './routes/registers';
import { serviceRoutes } from './routes/service';
import { syncRoutes } from './routes/syncs';
import { uiRoutes } from './routes/ui';

/** The HTTP API: routes translate requests to commands and results (or errors) back. */
export function createApp(ctx: AppContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // our ETag is the stream version, set by the routes
  app.set('query parser', 'simple');
  // One 'finish' listener per request: the log line, the metrics, and for a write that went
  // through, the storage is fine (again).
  app.use(
    requestContext(ctx.logger, (req, res, ms) => noteAnswer(ctx, Metrics.routeOf(req), req.method, res.statusCode, ms)),
  );
  app.use(laneErrors); // a request the fast lane failed is answered by the error handler below
  app.use(bodyDeadline(ctx.limits.bodyTimeoutMs));
  app.use('/v1', authenticate(ctx.tokens));
  app.use(concurrencyCap(ctx.limits.maxStreamUploads, 'stream uploads', isStreamUpload));
  app.use(concurrencyCap(ctx.limits.maxSseClients, 'event-stream subscribers', isEventStream));
  // The writes an agent sends all day first: a request walks the routers in this order (no two
  // routes of different routers match one path, so the order decides nothing else).
  app.use(registerRoutes(ctx));
  app.use(syncRoutes(ctx));
  app.use(cpuRoutes(ctx));
  app.use(migrationRoutes(ctx));
  app.use(historyRoutes(ctx));
  app.use(auditRoutes(ctx));
  app.use(qemuStreamRoutes(ctx));
  app.use(qemuConvertRoutes(ctx));
  app.use(hostProfileRoutes(ctx));
  app.use(compatibilityRoutes(ctx));
  app.use(serviceRoutes(ctx)); // outside /v1: no token needed
  app.use(uiRoutes()); // the web page at /ui/ (dist/ui, npm run build:ui); it calls /v1 like any client
  app.use(methodNotAllowed(app));
  app.use((req, _res, next) =>
    next(new HttpProblem(404, 'not-found', 'Not found', `no route ${req.method} ${req.path}`)),
  );
  app.use(errorHandler(ctx));
  return app;
}

/** Every error becomes a problem+json answer; only a fault of ours is a 500 (and is logged). */
function errorHandler(ctx: AppContext) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const p = toProblem(err);
    ctx.readiness.saw(p);
    res.locals.problem = { type: p.type, detail: p.detail };
    if (p.status >= 500 && p.type === problemType('internal')) {
      ctx.logger.error({ err, requestId: res.locals.requestId, path: req.path }, 'request failed');
    } else if (p.status >= 500) {
      ctx.logger.warn(
        { requestId: res.locals.requestId, path: req.path, problem: p.type, detail: p.detail },
        'refused',
      );
    }
    // The path only: a query string may carry what must not be echoed (a token, say).
    p.instance = req.path.slice(0, 512);
    if (typeof p.retryAfter === 'number' && !res.headersSent) res.set('Retry-After', String(p.retryAfter));
    // A body left unread (refused before it was read, or too slow) is not drained: answer, then close.
    if (!req.complete && !res.headersSent) {
      res.set('Connection', 'close');
      res.once('finish', () => req.socket.destroy());
    }
    sendProblem(res, p);
  };
}

const isEventStream = (req: Request) => req.path === '/v1/events' && /text\/event-stream/.test(req.get('accept') ?? '');

/** 405 for a path some route serves with other methods, with those methods in `Allow`. */
function methodNotAllowed(app: express.Express) {
  return (req: Request, res: Response, next: NextFunction) => {
    const allowed = new Set<string>();
    for (const layer of routeLayers(app)) {
      if (layer.match(req.path)) for (const m of Object.keys(layer.route.methods)) allowed.add(m.toUpperCase());
    }
    if (!allowed.size) return next();
    if (allowed.has('GET')) allowed.add('HEAD');
    const allow = [...allowed].sort().join(', ');
    res.set('Allow', allow);
    next(
      new HttpProblem(
        405,
        'method-not-allowed',
        'Method not allowed',
        `${req.method} is not served on ${req.path}; allowed: ${allow}`,
      ),
    );
  };
}

interface RouteLayer {
  match: (path: string) => unknown;
  route: { methods: Record<string, boolean> };
}

/** The route layers of the routers mounted on the app (express keeps them in `router.stack`). */
function routeLayers(app: express.Express): RouteLayer[] {
  type Layer = { handle?: { stack?: Layer[] }; route?: RouteLayer['route']; match: RouteLayer['match'] };
  const top = (app as unknown as { router: { stack: Layer[] } }).router.stack;
  return top.flatMap((l) => l.handle?.stack ?? []).filter((l): l is Layer & RouteLayer => l.route !== undefined);
}

function toProblem(err: unknown): Problem {
  if (err instanceof HttpProblem) return httpProblem(err);
  const storage = storageProblem(err);
  if (storage) return storage;
  if (err instanceof Refused) {
    const p = domainProblem(err.error, err.accelerator, err.message);
    const v = err.prediction;
    if (!v) return p;
    const state = v.state as VcpuState;
    return {
      ...p,
      verdict: v.verdict,
      reasons: v.reasons.map((f) => findingView(state, f)),
      qemuWarnings: v.warnings.map((f) => findingView(state, f)),
    };
  }
  if (err instanceof DomainError) return domainProblem(err, undefined);
  if (err instanceof NotFoundError) return httpProblem(notFound(err.kind, err.message));
  if (err instanceof QemuWouldRefuseError) {
    const state = err.state as VcpuState;
    return {
      type: problemType('qemu-would-refuse'),
      title: 'QEMU would refuse (or lose) these values',
      status: 409,
      detail: err.message,
      id: err.streamId,
      findings: err.findings.map((f) => findingView(state, f)),
      registers: [...new Set(err.findings.flatMap((f) => f.registers.map((r) => r.id)))]
        .sort((a, b) => (a < b ? -1 : 1))
        .map((id) => ({ id: formatRegId(id), name: infoOf(state, id).name, generic: infoOf(state, id).generic })),
    };
  }
  if (err instanceof PreconditionFailedError) {
    return {
      type: problemType('precondition-failed'),
      title: 'Precondition failed',
      status: 412,
      detail: err.message,
      actualVersion: err.actualVersion,
      ...(err.expectedVersions?.length === 1 ? { expectedVersion: err.expectedVersions[0] } : {}),
      ...(err.expectedVersions ? { expectedVersions: err.expectedVersions } : {}),
    };
  }
  if (err instanceof ConcurrencyError) {
    // Retries ran out against other writers: try again later.
    return {
      type: problemType('conflict'),
      title: 'Write conflict',
      status: 409,
      detail: `the vCPU ${err.streamId} kept changing under this write; try again`,
    };
  }
  if (err instanceof IdempotencyConflictError) {
    return {
      type: problemType('idempotency-key-reused'),
      title: 'Idempotency key reused',
      status: 422,
      detail: err.message,
    };
  }
  const e = err as { type?: string; status?: number; statusCode?: number; limit?: number };
  // body-parser errors carry a type and a status
  if (e && e.type === 'entity.too.large') {
    return {
      type: problemType('payload-too-large'),
      title: 'Payload too large',
      status: 413,
      detail: `the body exceeds the limit of ${e.limit} bytes`,
    };
  }
  if (e && typeof e.type === 'string' && e.type.startsWith('entity.')) {
    return {
      type: problemType('bad-request'),
      title: 'Malformed request',
      status: 400,
      detail: `the body could not be read: ${(err as Error).message}`,
    };
  }
  const status = e?.status ?? e?.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return { type: problemType('bad-request'), title: 'Malformed request', status, detail: (err as Error).message };
  }
  return {
    type: problemType('internal'),
    title: 'Internal error',
    status: 500,
    detail: 'the service failed to answer this request; it is logged',
  };
}
