import { createHash } from 'crypto';
import { Router, type Request, type Response } from 'express';
import { isAccelerator, type Accelerator } from '../../domain/accelerator';
import { DomainError } from '../../domain/errors';
import { StreamReader, StreamRewriter, type CpuCpregBlock, type StreamInfo } from '../../domain/qemu-stream';
import {
  checkLoad,
  decide,
  loadReportOf,
  valuesForStreamBlock,
  type BlobLoaded,
  type VcpuState,
} from '../../domain/vcpu';
import { domainEvents } from '../command';
import type { AppContext } from '../context';
import { badRequest, domainProblem, HttpProblem, notFound } from '../problem';
import { idempotencyOf, metadataOf } from '../request-meta';
import { onlyQuery } from '../schemas';
import {
  checkStreamRequest,
  closeAfterAnswer,
  inspectionView,
  streamBody,
  streamLimitFromEnv,
  vcpuIdOf,
} from '../stream-body';

export { inspectionView, vcpuIdOf };
import { loadReportView } from '../views';

/** `vm` names the vCPUs `<vm>.cpu<N>`; with the suffix it stays within a vCPU id's 128 characters. */
export const VM_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,100}$/;

/** Rewrite output held back before the answer starts (CPREG_REWRITE_HOLDBACK bytes overrides it). */
export const DEFAULT_HOLDBACK = 8 * 1024 * 1024;

export interface QemuStreamOptions {
  /** Largest stream accepted (default CPREG_STREAM_LIMIT or 16 GiB). */
  limit?: number;
  /**
   * Rewrite: output held back before the first byte is sent (default 8 MiB). A stream that fits
   * is checked completely before answering, so every refusal is a problem+json; a larger stream
   * starts flowing after this much and a refusal at its end aborts the connection.
   * Default CPREG_REWRITE_HOLDBACK or 8 MiB.
   */
  holdBack?: number;
}

function vmParam(x: string | undefined): string {
  if (x === undefined) throw badRequest('query parameter vm is required (the vCPUs are <vm>.cpu<N>)');
  if (!VM_NAME.test(x)) throw badRequest('vm must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,100}$');
  return x;
}

/** Prefixes a domain refusal with the vCPU it is about. */
function about(id: string, e: unknown): unknown {
  if (e instanceof DomainError) return new DomainError(e.kind, `${id}: ${e.message}`, e.registers);
  return e;
}

export function qemuStreamRoutes(ctx: AppContext, opts: QemuStreamOptions = {}): Router {
  const r = Router();
  const limit = opts.limit ?? streamLimitFromEnv();
  const holdBack = opts.holdBack ?? (Number(process.env.CPREG_REWRITE_HOLDBACK) || DEFAULT_HOLDBACK);

  /** Reads a whole stream (never buffered: RAM pages are skipped as they come). */
  async function read(req: Request, res: Response, onChunk?: (c: Buffer) => void): Promise<StreamInfo> {
    const reader = new StreamReader();
    try {
      for await (const chunk of streamBody(req, limit)) {
        onChunk?.(chunk);
        reader.push(chunk);
      }
      return reader.end();
    } catch (e) {
      closeAfterAnswer(req, res);
      throw e;
    }
  }

  r.post('/v1/qemu-streams/inspect', async (req, res) => {
    onlyQuery(req.query, []);
    checkStreamRequest(req, limit);
    const info = await read(req, res);
    res.json(inspectionView(info));
  });

  r.post('/v1/qemu-streams/import', async (req, res) => {
    const q = onlyQuery(req.query, ['vm', 'accelerator']);
    const vm = vmParam(q.vm);
    const accelerator: Accelerator = (q.accelerator ?? 'tcg') as Accelerator;
    if (!isAccelerator(accelerator)) throw badRequest('accelerator must be kvm, tcg or hvf');
    res.locals.accelerator = accelerator;
    checkStreamRequest(req, limit);
    const metadata = metadataOf(req, res);
    const idem = idempotencyOf(req); // validates the header; the body is hashed as it streams
    const hash =
      idem && createHash('sha256').update(`${req.method} ${req.originalUrl}\n${req.get('content-type') ?? ''}\n`);
    const info = await read(req, res, hash ? (c) => hash.update(c) : undefined);
    if (info.cpus.length === 0) throw new DomainError('malformed-blob', 'the stream has no cpu sections');
    const requestHash = hash?.digest('hex');

    // Validate every vCPU before writing any: a refusal changes nothing.
    type Plan = { cpu: CpuCpregBlock; id: string; version: number; sha256: string; key?: string };
    const plans: Plan[] = [];
    for (const cpu of info.cpus) {
      const id = vcpuIdOf(vm, cpu.instance);
      const sha256 = createHash('sha256').update(cpu.block).digest('hex');
      const key = idem && `${idem.key}#cpu${cpu.instance}`;
      if (key && (await ctx.store.findIdempotency(key))) {
        plans.push({ cpu, id, version: -1, sha256, key }); // a repeat: execute answers what it recorded
        continue;
      }
      const loaded = await ctx.repo.load(id);
      try {
        if (loaded) {
          res.locals.accelerator = loaded.state.accelerator;
          checkLoad(loaded.state, { format: 'v22', blob: cpu.block });
        } else {
          decide({ type: 'CreateVcpuFromBlob', accelerator, format: 'v22', blob: cpu.block, sha256 }, undefined);
        }
      } catch (e) {
        throw about(id, e);
      }
      plans.push({ cpu, id, version: loaded?.version ?? 0, sha256, key });
    }
    res.locals.accelerator = accelerator;

    const cpus = [];
    for (const p of plans) {
      const command =
        p.version === 0
          ? ({ type: 'CreateVcpuFromBlob', accelerator, format: 'v22', blob: p.cpu.block, sha256: p.sha256 } as const)
          : ({ type: 'LoadBlob', format: 'v22', blob: p.cpu.block, sha256: p.sha256 } as const);
      // Based on the version validated above: a write in between is a 412, not a silent merge.
      const out = await ctx.repo
        .execute(p.id, command, {
          expectedVersion: p.version >= 0 ? p.version : undefined,
          metadata,
          idempotency: p.key && requestHash ? { key: p.key, requestHash } : undefined,
        })
        .catch((e: unknown) => {
          throw about(p.id, e);
        });
      const events = domainEvents(out.events);
      const first = events[0];
      if (first?.type === 'BlobLoaded') {
        const e = first as BlobLoaded;
        const values = new Map(e.loaded.ids.map((rid, k) => [rid, e.loaded.values[k]!] as const));
        cpus.push({
          instance: p.cpu.instance,
          id: p.id,
          action: 'loaded' as const,
          version: out.version,
          report: loadReportView(loadReportOf(e, out.state), out.state, 'v22', false, values),
        });
      } else {
        cpus.push({ instance: p.cpu.instance, id: p.id, action: 'created' as const, version: out.version });
      }
      if (out.replayed) res.set('Idempotent-Replayed', 'true');
    }
    res.json({ vm, cpus });
  });

  r.post('/v1/qemu-streams/rewrite', async (req, res) => {
    const q = onlyQuery(req.query, ['vm']);
    const vm = vmParam(q.vm);
    res.locals.accelerator = 'tcg';
    const declared = checkStreamRequest(req, limit);
    // A missing VM is answered before the body is read.
    if (!(await ctx.store.streamVersion(vcpuIdOf(vm, 0)))) {
      closeAfterAnswer(req, res);
      throw notFound('vcpu-not-found', `no vCPU ${JSON.stringify(vcpuIdOf(vm, 0))}: import the VM first (vm=${vm})`);
    }

    // Filled just before the tail is rewritten: the vCPUs as they are once the whole stream is in.
    const states = new Map<number, { id: string; state: VcpuState }>();
    const rw = new StreamRewriter((instance, indexes) => {
      const id = vcpuIdOf(vm, instance);
      const s = states.get(instance);
      if (!s) throw new DomainError('vcpu-not-found', `no vCPU ${JSON.stringify(id)} for the stream's cpu ${instance}`);
      res.locals.accelerator = s.state.accelerator;
      return valuesForStreamBlock(id, s.state, { instance, indexes });
    });

    let held: Buffer[] = [];
    let heldBytes = 0;
    let started = false;
    let sent = 0;
    const start = () => {
      started = true;
      res.status(200).type('application/octet-stream');
      if (declared !== undefined) res.set('Content-Length', String(declared));
    };
    const write = async (chunks: Uint8Array[]) => {
      for (const c of chunks) {
        const b = Buffer.from(c.buffer, c.byteOffset, c.length);
        sent += b.length;
        if (!res.write(b)) {
          await new Promise<void>((resolve, reject) => {
            const done = (err?: unknown) => {
              res.off('drain', done);
              res.off('close', closed);
              if (err) reject(err instanceof Error ? err : new Error(String(err)));
              else resolve();
            };
            const closed = () => done(new Error('the client closed the connection'));
            res.on('drain', done);
            res.on('close', closed);
          });
        }
      }
    };
    const emit = async (chunks: Uint8Array[]) => {
      if (started) return write(chunks);
      for (const c of chunks) {
        // Request chunks are fresh buffers never reused by Node, so views of them may be kept.
        held.push(Buffer.from(c.buffer, c.byteOffset, c.length));
        heldBytes += c.length;
      }
      if (heldBytes > holdBack) {
        start();
        const h = held;
        held = [];
        await write(h);
      }
    };

    try {
      for await (const chunk of streamBody(req, limit)) await emit(rw.push(chunk));
      for (let n = 0; ; n++) {
        const loaded = await ctx.repo.load(vcpuIdOf(vm, n));
        if (!loaded) break;
        states.set(n, { id: vcpuIdOf(vm, n), state: loaded.state });
      }
      const tail = rw.end();
      if (!started) {
        start();
        if (declared === undefined)
          res.set('Content-Length', String(heldBytes + tail.reduce((s, c) => s + c.length, 0)));
        await write(held);
        held = [];
      }
      await write(tail);
      res.end();
    } catch (e) {
      if (!started) {
        closeAfterAnswer(req, res);
        throw e;
      }
      // Bytes are out: the only honest signal left is an incomplete transfer.
      const problem =
        e instanceof DomainError
          ? domainProblem(e, res.locals.accelerator)
          : e instanceof HttpProblem
            ? { status: e.status, detail: e.message }
            : { status: 500, detail: String(e) };
      ctx.logger.warn(
        {
          requestId: res.locals.requestId,
          path: req.path,
          sentBytes: sent,
          status: problem.status,
          detail: problem.detail,
        },
        'qemu-stream rewrite aborted after the response started',
      );
      res.destroy();
    }
  });

  return r;
}
