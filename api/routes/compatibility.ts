import { Router } from 'express';
import { z } from 'zod';
import type { FindingRegister, PairVerdict } from '../../app/fleet';
import type { ProfileAt } from '../../app/host-profiles';
import type { VcpuAt } from '../../app/vcpu-queries';
import { formatRegId } from '../../domain/regid';
import { formatValue } from '../../domain/values';
import { jsonBody, requireJson } from '../bodies';
import type { AppContext } from '../context';
import { badRequest } from '../problem';
import { pathParam } from '../request-meta';
import { labelsQuery, onlyQuery, parseBody } from '../schemas';
import { infoOf } from '../views';

/** The most pairs one matrix answers (1,000 vCPUs × 100 profiles). */
const MAX_PAIRS = 100_000;

const selector = z.union([
  z.array(z.string().min(1).max(256)).max(100_000),
  z.strictObject({ label: z.record(z.string(), z.string()) }),
]);
const matrixBody = z.strictObject({ cpus: selector.optional(), hostProfiles: selector.optional() });
type Selector = z.infer<typeof selector>;

const hex64 = (v: bigint) => '0x' + v.toString(16).padStart(16, '0');

function registerView(p: PairVerdict, r: FindingRegister) {
  const info = infoOf(p.state, r.id);
  return {
    id: formatRegId(r.id),
    name: info.name,
    generic: info.generic,
    ...(r.incoming === undefined ? {} : { incoming: formatValue(r.id, r.incoming) }),
    ...(r.destination === undefined ? {} : { destination: formatValue(r.id, r.destination) }),
    ...(r.kept === undefined ? {} : { kept: hex64(r.kept) }),
    ...(r.overwrittenBy === undefined ? {} : { overwrittenBy: formatRegId(r.overwrittenBy) }),
  };
}

function verdictView(p: PairVerdict) {
  const finding = (f: PairVerdict['reasons'][number]) => ({
    rule: f.rule,
    message: f.message,
    registers: f.registers.map((r) => registerView(p, r)),
  });
  return {
    cpu: p.cpu,
    hostProfile: p.hostProfile,
    verdict: p.verdict,
    reasons: p.reasons.map(finding),
    warnings: p.warnings.map(finding),
  };
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
  const answer = (cpus: VcpuAt[], hosts: ProfileAt[]) => {
    if (cpus.length * hosts.length > MAX_PAIRS) {
      throw badRequest(`${cpus.length} vCPUs × ${hosts.length} profiles is more than ${MAX_PAIRS} pairs: select fewer`);
    }
    const m = ctx.service.fleet.matrix(cpus, hosts);
    return { cpus: m.cpus, hostProfiles: m.hostProfiles, pairs: m.pairs.map(verdictView) };
  };

  r.post('/v1/compatibility', requireJson, jsonBody, async (req, res) => {
    onlyQuery(req.query, []);
    const b = parseBody(matrixBody, req.body);
    res.json(answer(await cpusOf(b.cpus), await profilesOf(b.hostProfiles)));
  });

  r.get('/v1/cpus/:id/compatibility', async (req, res) => {
    const { label, ...rest } = (req.query ?? {}) as Record<string, unknown>;
    onlyQuery(rest, []);
    const cpu = await q.get(pathParam(req, 'id'));
    res.json(answer([cpu], await ctx.service.profiles.all(labelsQuery(label))));
  });

  return r;
}
