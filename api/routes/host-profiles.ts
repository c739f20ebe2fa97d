import { Router } from 'express';
import type { ProfileAt } from '../../app/host-profiles';
import { readStream } from '../../app/vm-import';
import { DomainError } from '../../domain/errors';
import type { HostProfile } from '../../domain/host-profile/profile';
import { formatRegId, parseRegId } from '../../domain/regid';
import { jsonBody } from '../bodies';
import { send, withEtag } from '../command';
import type { AppContext } from '../context';
import { badRequest, unsupportedMediaType } from '../problem';
import {
  answeredByCondition,
  etagOf,
  idempotencyKeyOf,
  idempotencyOf,
  metadataOf,
  parseLimit,
  parseVersionParam,
  pathParam,
  requestPrefix,
  versionCondition,
} from '../request-meta';
import { hostProfileBody, labelsQuery, onlyQuery, parseBody, VCPU_ID } from '../schemas';
import { checkStreamRequest, closeAfterAnswer, requestStream } from '../stream-body';
import { createHash } from 'node:crypto';

const hex = (v: bigint) => '0x' + v.toString(16).padStart(16, '0');

export function profileView(p: ProfileAt) {
  const { profile: x } = p;
  return {
    id: p.id,
    version: p.version,
    accelerator: x.accelerator,
    qemu: x.qemu,
    cpuModel: x.cpuModel,
    machine: x.machine,
    labels: x.labels,
    arrayLen: x.ids.length,
    registers: Object.fromEntries(x.ids.map((id, i) => [formatRegId(id), hex(x.values[i]!)])),
    writableMasks: x.writableMasks
      ? Object.fromEntries([...x.writableMasks].map(([k, v]) => [formatRegId(k), hex(v)]))
      : null,
  };
}

function profileId(req: Parameters<typeof pathParam>[0]): string {
  const id = pathParam(req, 'id');
  if (!VCPU_ID.test(id)) throw badRequest('a host profile id must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$');
  return id;
}

export function hostProfileRoutes(ctx: AppContext): Router {
  const r = Router();

  // From an idle stream of that host (octet-stream), or from JSON with the list and values.
  r.put('/v1/host-profiles/:id', jsonBody, async (req, res) => {
    const id = profileId(req);
    const condition = versionCondition(req);
    let profile: HostProfile;
    let source: { kind: 'stream'; sha256: string } | { kind: 'json' };
    let idempotency = undefined as { key: string; requestHash: string } | undefined;
    if (req.is('application/octet-stream')) {
      const { label, ...rest } = (req.query ?? {}) as Record<string, unknown>;
      const q = onlyQuery(rest, ['qemu', 'cpuModel', 'accelerator']);
      if (q.accelerator !== undefined && q.accelerator !== 'tcg' && q.accelerator !== 'kvm')
        throw badRequest('accelerator must be tcg or kvm');
      if (q.qemu === undefined) throw badRequest('query parameter qemu is required (major.minor, e.g. 10.0)');
      checkStreamRequest(req, ctx.streamLimit);
      const key = idempotencyKeyOf(req);
      const hash = createHash('sha256');
      const keyHash = key === undefined ? undefined : createHash('sha256').update(requestPrefix(req));
      let info;
      try {
        info = await readStream(requestStream(ctx, req), (c) => {
          hash.update(c);
          keyHash?.update(c);
        });
      } catch (e) {
        closeAfterAnswer(req, res);
        throw e;
      }
      const cpu = info.cpus[0];
      if (!cpu) throw new DomainError('malformed-blob', 'the stream has no cpu sections');
      profile = ctx.service.fleet.profileFromBlock({
        accelerator: (q.accelerator ?? 'tcg') as 'tcg' | 'kvm',
        qemu: q.qemu,
        cpuModel: q.cpuModel,
        machine: info.machine,
        ids: Array.from(cpu.indexes),
        values: Array.from({ length: cpu.n }, (_, i) => cpu.values[cpu.valueIndexes?.[i] ?? i]!),
        labels: labelsQuery(label),
      });
      source = { kind: 'stream', sha256: hash.digest('hex') };
      if (key !== undefined && keyHash) idempotency = { key, requestHash: keyHash.digest('hex') };
    } else if (req.is('application/json')) {
      onlyQuery(req.query, []);
      const b = parseBody(hostProfileBody, req.body);
      const pairs = Object.entries(b.registers)
        .map(([k, v]) => [parseRegId(k), BigInt(v)] as const)
        .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
      profile = ctx.service.fleet.profileFromBlock({
        accelerator: b.accelerator,
        qemu: b.qemu,
        cpuModel: b.cpuModel,
        machine: b.machine ?? null,
        ids: pairs.map((p) => p[0]),
        values: pairs.map((p) => p[1]),
        labels: b.labels ?? {},
        writableMasks: b.writableMasks
          ? new Map(Object.entries(b.writableMasks).map(([k, v]) => [parseRegId(k), BigInt(v)]))
          : null,
      });
      source = { kind: 'json' };
      idempotency = idempotencyOf(req);
    } else {
      throw unsupportedMediaType(
        'PUT /v1/host-profiles/{id} takes application/octet-stream (an idle stream) or application/json',
      );
    }
    const out = await ctx.service.profiles.set(id, profile, source, {
      metadata: metadataOf(req, res),
      ...(idempotency ? { idempotency } : {}),
      ...(condition ? { condition } : {}),
      answer: (p) => ({
        status: p.created ? 201 : 200,
        body: profileView(p),
        headers: withEtag(p.version, p.created ? { Location: `/v1/host-profiles/${encodeURIComponent(id)}` } : {}),
      }),
    });
    send(res, out.answer, out.replayed);
  });

  r.get('/v1/host-profiles/:id', async (req, res) => {
    const q = onlyQuery(req.query, ['version']);
    const p = await ctx.service.profiles.get(profileId(req), parseVersionParam(q.version, 'version'));
    if (answeredByCondition(req, res, p.version)) return;
    res.set('ETag', etagOf(p.version)).json(profileView(p));
  });

  r.get('/v1/host-profiles', async (req, res) => {
    const { label, ...rest } = (req.query ?? {}) as Record<string, unknown>;
    const q = onlyQuery(rest, ['after', 'limit']);
    if (q.after !== undefined && !VCPU_ID.test(q.after)) throw badRequest('after must be a host profile id');
    const page = await ctx.service.profiles.list({
      labels: labelsQuery(label),
      limit: parseLimit(q.limit),
      ...(q.after === undefined ? {} : { after: q.after }),
    });
    res.json({ items: page.items.map(profileView), next: page.next ?? null });
  });

  return r;
}
