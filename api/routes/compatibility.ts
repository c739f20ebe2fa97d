import { Router, type Response } from 'express';
import { z } from 'zod';
import type { PairVerdict } from '../../app/fleet';
import type { ProfileAt } from '../../app/host-profiles';
import type { VcpuAt } from '../../app/vcpu-queries';
import { jsonBody, requireJson } from '../bodies';
import type { AppContext } from '../context';
import { badRequest } from '../problem';
import { pathParam } from '../request-meta';
import { labelsQuery, onlyQuery, parseBody } from '../schemas';
import { findingView } from '../finding-view';
import { drained } from '../stream-answer';

/** The most pairs one matrix answers (1,000 vCPUs × 100 profiles). */
const MAX_PAIRS = 100_000;

const selector = z.union([
  z.array(z.string().min(1).max(256)).max(100_000),
  z.strictObject({ label: z.record(z.string(), z.string()) }),
]);
const matrixBody = z.strictObject({ cpus: selector.optional(), hostProfiles: selector.optional() });
type Selector = z.infer<typeof selector>;

function verdictView(p: PairVerdict) {
  return {
    cpu: p.cpu,
    hostProfile: p.hostProfile,
    verdict: p.verdict,
    reasons: p.reasons.map((f) => findingView(p.state, f)),
    warnings: p.warnings.map((f) => findingView(p.state, f)),
  };
}

/**
 * Registers named per finding by default (its `count` says how many there are): one in the fleet
 * matrix, whose 50,000 pairs would otherwise be 85 MB of JSON at three; 64 for one vCPU's row.
 */
const MATRIX_MAX_REGISTERS = 1;
const ROW_MAX_REGISTERS = 64;
const MAX_REGISTERS = 4096;

function maxRegistersParam(v: string | undefined, byDefault: number): number {
  if (v === undefined) return byDefault;
  if (!/^\d{1,4}$/.test(v) || Number(v) > MAX_REGISTERS) {
    throw badRequest(`maxRegisters must be an integer from 0 to ${MAX_REGISTERS}`);
  }
  return Number(v);
}

export function compatibilityRoutes(ctx: AppContext): Router {
  const r = Router();
  const q = ctx.service.queries;

  async function cpusOf(s: Selector | undefined): Promise<VcpuAt[]> {
    if (Array.isArray(s)) return Promise.all(s.map((id) => q.get(id)));
    return q.all(s?.label ?? {});
  }
  async function profilesOf(s: Selector | undefined): Promise<ProfileAt[]> {
    if (Array.isArray(s)) return Promise.all(s.map((id) => ctx.service.profiles.get(id)));
    return ctx.service.profiles.all(s?.label ?? {});
  }
  /**
   * The matrix as JSON, written one vCPU's row at a time as it is judged: the pairs of a large
   * matrix are never all held (nor one string of all of them), and the answer starts at once.
   */
  const answer = async (res: Response, cpus: VcpuAt[], hosts: ProfileAt[], maxRegisters: number) => {
    if (cpus.length * hosts.length > MAX_PAIRS) {
      throw badRequest(`${cpus.length} vCPUs × ${hosts.length} profiles is more than ${MAX_PAIRS} pairs: select fewer`);
    }
    res.status(200).type('application/json');
    let chunk =
      `{"cpus":${JSON.stringify(cpus.map((c) => c.id))},"hostProfiles":${JSON.stringify(hosts.map((h) => h.id))},` +
      '"pairs":[';
    let first = true;
    for (const row of ctx.service.fleet.rows(cpus, hosts, { maxRegistersPerFinding: maxRegisters })) {
      for (const p of row) {
        chunk += (first ? '' : ',') + JSON.stringify(verdictView(p));
        first = false;
      }
      if (chunk.length >= 1 << 16) {
        const more = res.write(chunk);
        chunk = '';
        if (!more) await drained(res);
      }
    }
    res.end(chunk + ']}');
  };

  r.post('/v1/compatibility', requireJson, jsonBody, async (req, res) => {
    const q = onlyQuery(req.query, ['maxRegisters']);
    const b = parseBody(matrixBody, req.body);
    const max = maxRegistersParam(q.maxRegisters, MATRIX_MAX_REGISTERS);
    await answer(res, await cpusOf(b.cpus), await profilesOf(b.hostProfiles), max);
  });

  r.get('/v1/cpus/:id/compatibility', async (req, res) => {
    const { label, ...rest } = (req.query ?? {}) as Record<string, unknown>;
    const o = onlyQuery(rest, ['maxRegisters']);
    const max = maxRegistersParam(o.maxRegisters, ROW_MAX_REGISTERS);
    const cpu = await q.get(pathParam(req, 'id'));
    await answer(res, [cpu], await ctx.service.profiles.all(labelsQuery(label)), max);
  });

  return r;
}
