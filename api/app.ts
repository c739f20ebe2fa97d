import express, { type NextFunction, type Request, type Response } from 'express';
import { DomainError } from '../domain/errors';
import { ConcurrencyError, IdempotencyConflictError } from '../storage/event-store';
import { authenticate } from './auth';
import type { AppContext } from './context';
import { requestContext } from './logging';
import { domainProblem, HttpProblem, httpProblem, problemType, sendProblem, type Problem } from './problem';
import { cpuRoutes } from './routes/cpus';
import { historyRoutes } from './routes/history';
import { migrationRoutes } from './routes/migration';
import { qemuStreamRoutes } from './routes/qemu-streams';
import { registerRoutes } from './routes/registers';
import { serviceRoutes } from './routes/service';
import { syncRoutes } from './routes/syncs';

/** The HTTP API: routes translate requests to commands and results (or errors) back. */
export function createApp(ctx: AppContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // our ETag is the stream version, set by the routes
  app.set('query parser', 'simple');
  app.use(requestContext(ctx.logger));
  app.use(serviceRoutes());
  app.use('/v1', authenticate(ctx.tokens));
  app.use(cpuRoutes(ctx));
  app.use(registerRoutes(ctx));
  app.use(syncRoutes(ctx));
  app.use(migrationRoutes(ctx));
  app.use(historyRoutes(ctx));
  app.use(qemuStreamRoutes(ctx));
  app.use((req, _res, next) =>
    next(new HttpProblem(404, 'not-found', 'Not found', `no route ${req.method} ${req.path}`)),
  );
  app.use(errorHandler(ctx));
  return app;
}

/** Every error becomes a problem+json answer; only a fault of ours is a 500 (and is logged). */
function errorHandler(ctx: AppContext) {
  return async (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const p = await toProblem(ctx, err, req, res);
    if (p.status >= 500) ctx.logger.error({ err, requestId: res.locals.requestId, path: req.path }, 'request failed');
    p.instance = req.originalUrl.slice(0, 512);
    sendProblem(res, p);
  };
}

async function toProblem(ctx: AppContext, err: unknown, req: Request, res: Response): Promise<Problem> {
  if (err instanceof HttpProblem) return httpProblem(err);
  if (err instanceof DomainError) {
    let accelerator = res.locals.accelerator;
    if (!accelerator && err.registers.length && typeof req.params?.id === 'string') {
      accelerator = (await ctx.repo.load(req.params.id).catch(() => undefined))?.state.accelerator;
    }
    return domainProblem(err, accelerator);
  }
  if (err instanceof ConcurrencyError) {
    return {
      type: problemType('precondition-failed'),
      title: 'Precondition failed',
      status: 412,
      detail: `the vCPU is at version ${err.actual}; the write was based on ${String(err.expected)} (If-Match)`,
      expectedVersion: typeof err.expected === 'number' ? err.expected : undefined,
      actualVersion: err.actual,
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
  if (e && (e.status ?? e.statusCode) && (e.status ?? e.statusCode)! < 500) {
    const status = (e.status ?? e.statusCode)!;
    return { type: problemType('bad-request'), title: 'Malformed request', status, detail: (err as Error).message };
  }
  return {
    type: problemType('internal'),
    title: 'Internal error',
    status: 500,
    detail: 'the service failed to answer this request; it is logged',
  };
}
