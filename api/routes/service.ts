import * as fs from 'fs';
import * as path from 'path';
import { Router } from 'express';
import type { AppContext } from '../context';

/** Found beside the sources or beside dist/, whichever this runs from. */
function contractPath(): string {
  for (const p of [path.resolve(__dirname, '../../openapi.yaml'), path.resolve(__dirname, '../../../openapi.yaml')]) {
    if (fs.existsSync(p)) return p;
  }
  throw new Error('openapi.yaml not found');
}

export function serviceRoutes(ctx: Pick<AppContext, 'service' | 'readiness' | 'metrics'>): Router {
  const r = Router();
  const contract = fs.readFileSync(contractPath(), 'utf8');
  // Liveness: the process answers (never touches the database).
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Readiness: the database answers a read, its migrations were applied (the store refuses to
  // open otherwise, and one it cannot write), and no storage failure was answered lately.
  r.get('/readyz', async (_req, res) => {
    let database = 'ok';
    try {
      await ctx.service.queries.version('readyz');
    } catch (e) {
      database = e instanceof Error ? e.message.slice(0, 200) : String(e);
    }
    const degraded = ctx.readiness.degraded();
    const audit = ctx.readiness.audit();
    const ready = database === 'ok' && !degraded && audit.state !== 'mismatch';
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'degraded',
      database,
      migrations: 'applied',
      ...(degraded ? { lastStorageProblem: degraded } : {}),
      audit,
    });
  });
  r.get('/metrics', async (_req, res) => {
    res.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });
  r.get('/openapi.yaml', (_req, res) => {
    res.type('application/yaml').send(contract);
  });
  return r;
}
