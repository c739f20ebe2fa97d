import { Router } from 'express';
import type { VcpuDecided } from '../../app/vcpu-aggregate';
import { readStream } from '../../app/vm-import';
import { isAccelerator } from '../../domain/accelerator';
import type { StreamInfo } from '../../domain/qemu-stream';
import { loadReportOf } from '../../domain/vcpu';
import type { AppContext } from '../context';
import { preferredHandling } from '../command';
import { badRequest } from '../problem';
import { idempotencyKeyOf, metadataOf, requestPrefix } from '../request-meta';
import { labelsQuery, onlyQuery } from '../schemas';
import { answerTransformed } from '../stream-answer';
import { checkStreamRequest, closeAfterAnswer, inspectionView, requestStream } from '../stream-body';
import { loadReportView } from '../views';

/** `vm` names the vCPUs `<vm>.cpu<N>`; with the suffix it stays within a vCPU id's 128 characters. */
const VM_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,100}$/;

function vmParam(x: string | undefined): string {
  if (x === undefined) throw badRequest('query parameter vm is required (the vCPUs are <vm>.cpu<N>)');
  if (!VM_NAME.test(x)) throw badRequest('vm must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,100}$');
  return x;
}

/** The import's answer, made from what was decided for each cpu section (in stream order). */
function importAnswer(vm: string, info: StreamInfo, decided: readonly VcpuDecided[]) {
  const cpus = decided.map((d, k) => {
    const instance = info.cpus[k]!.instance;
    const first = d.events[0];
    if (first?.type !== 'BlobLoaded')
      return { instance, id: d.streamId, action: 'created' as const, version: d.version };
    const values = new Map(first.loaded.ids.map((rid, j) => [rid, first.loaded.values[j]!] as const));
    const format = info.cpus[k]!.format;
    return {
      instance,
      id: d.streamId,
      action: 'loaded' as const,
      version: d.version,
      report: loadReportView(loadReportOf(first, d.state), d.state, format, false, values),
    };
  });
  return { vm, cpus };
}

export function qemuStreamRoutes(ctx: AppContext): Router {
  const r = Router();
  const limit = ctx.streamLimit;

  r.post('/v1/qemu-streams/inspect', async (req, res) => {
    onlyQuery(req.query, []);
    checkStreamRequest(req, limit);
    try {
      res.json(inspectionView(await readStream(requestStream(ctx, req))));
    } catch (e) {
      closeAfterAnswer(req, res);
      throw e;
    }
  });

  r.post('/v1/qemu-streams/import', async (req, res) => {
    const { label, ...rest } = (req.query ?? {}) as Record<string, unknown>;
    const q = onlyQuery(rest, ['vm', 'accelerator']);
    const labels = labelsQuery(label);
    const vm = vmParam(q.vm);
    const accelerator = q.accelerator ?? 'tcg';
    if (!isAccelerator(accelerator)) throw badRequest('accelerator must be kvm, tcg or hvf');
    checkStreamRequest(req, limit);
    const key = idempotencyKeyOf(req); // the body is hashed as it streams
    try {
      const out = await ctx.service.importVm({
        vm,
        accelerator,
        labels,
        chunks: requestStream(ctx, req),
        metadata: metadataOf(req, res),
        ...(key === undefined ? {} : { idempotency: { key, requestPrefix: requestPrefix(req) } }),
        answer: (info, decided) => importAnswer(vm, info, decided),
      });
      if (out.replayed) res.set('Idempotent-Replayed', 'true');
      res.json(out.answer);
    } catch (e) {
      closeAfterAnswer(req, res);
      throw e;
    }
  });

  r.post('/v1/qemu-streams/rewrite', async (req, res) => {
    const q = onlyQuery(req.query, ['vm']);
    const vm = vmParam(q.vm);
    const declared = checkStreamRequest(req, limit);
    let rewrite;
    try {
      // A missing VM is answered before the body is read; `Prefer: handling=lenient` writes values
      // the stream's QEMU would refuse (else 409).
      const lenient = preferredHandling(req) === 'lenient';
      if (lenient) res.set('Preference-Applied', 'handling=lenient');
      rewrite = await ctx.service.vmRewrite(vm, { lenient });
    } catch (e) {
      closeAfterAnswer(req, res);
      throw e;
    }
    await answerTransformed(ctx, req, res, rewrite.transform, {
      what: 'rewrite',
      sameLength: true,
      declared,
      beforeEnd: rewrite.loadStates,
    });
  });

  return r;
}
