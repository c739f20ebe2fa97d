import { Router } from 'express';
import { AuditError } from '../../app/audit';
import type { AppContext } from '../context';
import { badRequest, HttpProblem, notFound } from '../problem';
import { onlyQuery } from '../schemas';

/** A whole number ≥ 1 from the query (required unless `optional`). */
function count(x: string | undefined, name: string, optional = false): number | undefined {
  if (x === undefined) {
    if (optional) return undefined;
    throw badRequest(`${name} is required`);
  }
  if (!/^\d{1,15}$/.test(x) || Number(x) < 1) throw badRequest(`${name} must be a whole number from 1`);
  return Number(x);
}

function auditProblem(e: unknown): never {
  if (e instanceof AuditError) {
    if (e.kind === 'no-signing-key') throw new HttpProblem(409, 'no-signing-key', 'No signing key', e.message);
    if (e.kind === 'range') throw badRequest(e.message);
    throw notFound('not-found', e.message);
  }
  throw e;
}

/** The audit (docs/audit.md): the chain walk, signed checkpoints, keys, Merkle proofs. */
export function auditRoutes(ctx: AppContext): Router {
  const r = Router();
  const audit = ctx.service.audit;
  ctx.readiness.watchAudit(() => audit.status());

  r.get('/v1/audit/verify', async (req, res) => {
    onlyQuery(req.query, []);
    const v = await audit.verify();
    res.json({
      ok: v.ok && (v.checkpoint?.ok ?? true),
      events: v.events,
      headHash: v.headHash,
      ...(v.firstBrokenPosition !== undefined ? { firstBrokenPosition: v.firstBrokenPosition } : {}),
      ...(v.reason ? { reason: v.reason } : {}),
      ...(v.checkpoint ? { checkpoint: v.checkpoint } : {}),
      ...(v.derived ? { derived: v.derived } : {}),
    });
  });

  r.post('/v1/audit/checkpoints', async (req, res) => {
    onlyQuery(req.query, []);
    const c = await audit.checkpoint().catch(auditProblem);
    res.status(201).json(c);
  });

  r.get('/v1/audit/checkpoints/latest', async (req, res) => {
    onlyQuery(req.query, []);
    const c = await audit.latestCheckpoint();
    if (!c) throw notFound('not-found', 'no checkpoint has been signed yet');
    res.json(c);
  });

  r.get('/v1/audit/checkpoints/:treeSize', async (req, res) => {
    onlyQuery(req.query, []);
    const raw = String(req.params.treeSize);
    if (!/^\d{1,15}$/.test(raw)) throw badRequest('treeSize must be a whole number');
    const c = await audit.checkpointAt(Number(raw));
    if (!c) throw notFound('not-found', `no checkpoint of tree size ${raw}`);
    res.json(c);
  });

  r.get('/v1/audit/keys', async (req, res) => {
    onlyQuery(req.query, []);
    res.json({ keys: await audit.publishedKeys() });
  });

  r.get('/v1/audit/proofs/inclusion', async (req, res) => {
    const q = onlyQuery(req.query, ['position', 'treeSize']);
    const position = count(q.position, 'position')!;
    res.json(await audit.inclusion(position, count(q.treeSize, 'treeSize', true)).catch(auditProblem));
  });

  r.get('/v1/audit/proofs/consistency', async (req, res) => {
    const q = onlyQuery(req.query, ['from', 'to']);
    const from = count(q.from, 'from')!;
    res.json(await audit.consistency(from, count(q.to, 'to', true)).catch(auditProblem));
  });

  return r;
}
