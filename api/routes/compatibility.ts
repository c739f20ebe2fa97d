import { Router } from 'express';
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

/** Registers named per finding (its `count` says how many there are): a matrix of 100,000 pairs stays small. */
const DEFAULT_MAX_REGISTERS = 3;
const MAX_REGISTERS = 4096;

function maxRegistersParam(v: string | undefined): number {
  if (v === undefined) return DEFAULT_MAX_REGISTERS;
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
  const answer = (cpus: VcpuAt[], hosts: ProfileAt[], maxRegisters: number) => {
    if (cpus.length * hosts.length > MAX_PAIRS) {
      throw badRequest(`${cpus.length} vCPUs × ${hosts.length} profiles is more than ${MAX_PAIRS} pairs: select fewer`);
    }
    const m = ctx.service.fleet.matrix(cpus, hosts, { maxRegistersPerFinding: maxRegisters });
    return { cpus: m.cpus, hostProfiles: m.hostProfiles, pairs: m.pairs.map(verdictView) };
  };

  r.post('/v1/compatibility', requireJson, jsonBody, async (req, res) => {
    const q = onlyQuery(req.query, ['maxRegisters']);
    const b = parseBody(matrixBody, req.body);
    res.json(answer(await cpusOf(b.cpus), await profilesOf(b.hostProfiles), maxRegistersParam(q.maxRegisters)));
  });

  r.get('/v1/cpus/:id/compatibility', async (req, res) => {
    const { label, ...rest } = (req.query ?? {}) as Record<string, unknown>;
    const o = onlyQuery(rest, ['maxRegisters']);
    const cpu = await q.get(pathParam(req, 'id'));
    res.json(answer([cpu], await ctx.service.profiles.all(labelsQuery(label)), maxRegistersParam(o.maxRegisters)));
  });

  return r;
}
