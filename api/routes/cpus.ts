import { createHash, randomUUID } from 'crypto';
import { Router } from 'express';
import { isAccelerator } from '../../domain/accelerator';
import { parseRegId } from '../../domain/regid';
import { runCommand, withEtag, type Render } from '../command';
import type { AppContext } from '../context';
import { badRequest, unsupportedMediaType } from '../problem';
import { assignments } from '../reg-refs';
import { answeredByCondition, etagOf, formatParam, parseLimit, parseVersionParam, pathParam } from '../request-meta';
import { createVcpuBody, labelsQuery, onlyQuery, parseBody, VCPU_ID } from '../schemas';
import { arraysView, stateView } from '../views';
import { blobBody, jsonBody } from '../bodies';

export function cpuRoutes(ctx: AppContext): Router {
  const r = Router();

  // Create from a register list (JSON) or from a migration blob (octet-stream).
  r.post('/v1/cpus', blobBody, jsonBody, async (req, res) => {
    // Render from the id it is given: on an idempotent replay that is the original vCPU's.
    const created: Render = ({ streamId, state, version }) => ({
      status: 201,
      body: stateView(streamId, version, state),
      headers: withEtag(version, { Location: `/v1/cpus/${encodeURIComponent(streamId)}` }),
    });
    if (req.is('application/octet-stream')) {
      const q = onlyQuery(req.query, ['format', 'accelerator', 'id']);
      const format = formatParam(q.format);
      if (!isAccelerator(q.accelerator)) throw badRequest('accelerator must be kvm, tcg or hvf');
      const id = vcpuIdOrNew(q.id);
      const blob = new Uint8Array(req.body as Buffer);
      const sha256 = createHash('sha256').update(blob).digest('hex');
      return runCommand(
        ctx,
        req,
        res,
        id,
        { type: 'CreateVcpuFromBlob', accelerator: q.accelerator, format, blob, sha256 },
        created,
      );
    }
    if (!req.is('application/json'))
      throw unsupportedMediaType(
        'POST /v1/cpus takes application/json (a register list) or application/octet-stream (a blob)',
      );
    onlyQuery(req.query, []);
    const body = parseBody(createVcpuBody, req.body);
    const id = vcpuIdOrNew(body.id);
    return runCommand(
      ctx,
      req,
      res,
      id,
      {
        type: 'CreateVcpu',
        accelerator: body.accelerator,
        registers: body.registers?.map(parseRegId),
        values: body.values ? assignments(body.values) : undefined,
        labels: body.labels,
      },
      created,
    );
  });

  r.get('/v1/cpus', async (req, res) => {
    const raw = (req.query ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(raw))
      if (!['label', 'after', 'limit'].includes(k)) throw badRequest(`unknown query parameter ${JSON.stringify(k)}`);
    const labels = labelsQuery(raw.label);
    if (raw.after !== undefined && (typeof raw.after !== 'string' || !VCPU_ID.test(raw.after)))
      throw badRequest('after must be a vCPU id');
    const page = await ctx.service.queries.list({
      labels,
      limit: parseLimit(raw.limit),
      ...(typeof raw.after === 'string' ? { after: raw.after } : {}),
    });
    const items = page.items.map(({ id, version, state }) => ({
      id,
      accelerator: state.accelerator,
      version,
      labels: state.labels,
    }));
    res.json({ items, next: page.next ?? null });
  });

  r.get('/v1/cpus/:id', async (req, res) => {
    const { id, version, state } = await loadAt(ctx, pathParam(req, 'id'), req.query);
    if (answeredByCondition(req, res, version)) return;
    res.set('ETag', etagOf(version)).json(stateView(id, version, state));
  });

  r.get('/v1/cpus/:id/arrays', async (req, res) => {
    const { id, version, state } = await loadAt(ctx, pathParam(req, 'id'), req.query);
    if (answeredByCondition(req, res, version)) return;
    res.set('ETag', etagOf(version)).json(arraysView(id, version, state));
  });

  return r;
}

function vcpuIdOrNew(id: string | undefined): string {
  if (id === undefined) return randomUUID();
  if (!VCPU_ID.test(id)) throw badRequest('id must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$');
  return id;
}

/** The vCPU now, or at `?version=` (404 when the vCPU or that version does not exist). */
function loadAt(ctx: AppContext, id: string, query: unknown) {
  const q = onlyQuery(query, ['version']);
  return ctx.service.queries.get(id, parseVersionParam(q.version, 'version'));
}
