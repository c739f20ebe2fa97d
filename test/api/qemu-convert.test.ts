import { DEFAULTS } from '../../api/config';
import { Metrics } from '../../api/metrics';
import express, { type NextFunction, type Request, type Response } from 'express';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createLogger } from '../../api/logging';
import { domainProblem, HttpProblem, httpProblem, sendProblem } from '../../api/problem';
import { qemuConvertRoutes } from '../../api/routes/qemu-convert';
import { DomainError } from '../../domain/errors';
import { convertStream, readStream } from '../../domain/qemu-stream';
import { layoutArrays } from '../../domain/cpreg-arrays';
import { concat, manifest, stream } from '../domain/qemu-stream/helpers';
import { allCpusAs, withCpuBlock } from '../domain/qemu-stream/layouts';
import { syntheticStream } from '../domain/qemu-stream/synthetic';
import { binary } from '../helpers/binary';

/**
 * POST /v1/qemu-streams/convert?to=v23|v22 (api/routes/qemu-convert.ts). The route is mounted on a
 * bare express app with the app's problem+json rendering (api/problem.ts), as api/app.ts will
 * mount it, so the route is tested on its own.
 */

const OCTET = 'application/octet-stream';
const MAX = 'aarch64-max-smp2';

function appWith(opts: { streamLimit?: number; rewriteHoldBack?: number } = {}) {
  const app = express();
  app.use(
    qemuConvertRoutes({
      logger: createLogger('silent'),
      streamLimit: opts.streamLimit ?? 16 * 1024 ** 3,
      rewriteHoldBack: opts.rewriteHoldBack ?? 8 * 1024 * 1024,
      limits: DEFAULTS.limits,
      metrics: new Metrics(),
    }),
  );
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof DomainError) return sendProblem(res, domainProblem(err));
    if (err instanceof HttpProblem) return sendProblem(res, httpProblem(err));
    sendProblem(res, {
      type: 'urn:cpreg-ledger:problem:internal',
      title: 'Internal error',
      status: 500,
      detail: String(err),
    });
  });
  return app;
}

const post = (app: express.Express, to: string, body: Buffer, type = OCTET) =>
  binary(request(app).post(`/v1/qemu-streams/convert?to=${to}`).set('content-type', type).send(body));

function expectProblem(res: request.Response, status: number, kind: string) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = JSON.parse((res.body as Buffer).toString('utf8'));
  expect(body).toMatchObject({ type: `urn:cpreg-ledger:problem:${kind}`, status });
  return body as { detail: string; registers?: Array<{ id: string }> };
}

describe('POST /v1/qemu-streams/convert', () => {
  const app = appWith();

  it.each(manifest().fixtures.map((f) => f.name))('%s: to v23 and back to v22, byte for byte', async (name) => {
    const input = stream(name);
    const v23 = await post(app, 'v23', input);
    expect(v23.status).toBe(200);
    expect(v23.headers['content-type']).toBe(OCTET);
    expect(Number(v23.headers['content-length'])).toBe((v23.body as Buffer).length);
    expect((v23.body as Buffer).equals(concat(convertStream([input], 'v23').output))).toBe(true);
    expect(readStream([v23.body as Buffer]).cpus.every((c) => c.version === 23)).toBe(true);
    const back = await post(app, 'v22', v23.body as Buffer);
    expect(back.status).toBe(200);
    expect((back.body as Buffer).equals(input)).toBe(true);
  });

  it('to the layout the stream has: the same bytes', async () => {
    const res = await post(app, 'v22', stream('arm-cortex-a7'));
    expect(res.status).toBe(200);
    expect((res.body as Buffer).equals(stream('arm-cortex-a7'))).toBe(true);
  });

  it('refuses to v22 a stream with registers wider than 8 bytes, 409 naming them', async () => {
    const base = allCpusAs(concat([...syntheticStream({ ramBytes: 0 })]), 'v23');
    const wide = withCpuBlock(
      base,
      1,
      layoutArrays(BigUint64Array.from([0x603000000013de82n, 0x6040000000140000n])),
      'v23',
    );
    const body = expectProblem(await post(app, 'v22', wide), 409, 'not-representable');
    expect(body.detail).toContain('cpu 1: 0x6040000000140000');
    expect(body.registers?.map((r) => r.id)).toEqual(['0x6040000000140000']);
    // to v23 it is already: fine
    expect((await post(app, 'v23', wide)).status).toBe(200);
  });

  it('answers problem+json for a bad query, a wrong content type, a malformed stream, a declared size over the limit', async () => {
    expectProblem(await post(app, 'v24', stream(MAX)), 400, 'bad-request');
    expectProblem(
      await binary(request(app).post('/v1/qemu-streams/convert').set('content-type', OCTET).send(stream(MAX))),
      400,
      'bad-request',
    );
    expectProblem(await post(app, 'v23&vm=x', stream(MAX)), 400, 'bad-request');
    expectProblem(await post(app, 'v23', Buffer.from('{}'), 'application/json'), 415, 'unsupported-media-type');
    const cut = await post(app, 'v23', stream(MAX).subarray(0, 400000));
    expect(expectProblem(cut, 422, 'malformed-blob').detail).toMatch(/^at byte \d+:/);
    expectProblem(await post(appWith({ streamLimit: 1000 }), 'v23', stream(MAX)), 413, 'payload-too-large');
  });

  it('a stream larger than the hold-back flows before its end; a refusal found at the end aborts the connection', async () => {
    const base = allCpusAs(concat([...syntheticStream({ ramBytes: 1024 * 1024 })]), 'v23');
    const wide = withCpuBlock(base, 0, layoutArrays(BigUint64Array.from([0x6040000000140000n])), 'v23');
    const small = appWith({ rewriteHoldBack: 64 * 1024 });
    const server = http.createServer(small);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const send = (to: string, body: Buffer) =>
      new Promise<{ status?: number; body: Buffer; complete: boolean; error?: string }>((resolve) => {
        const { port } = server.address() as AddressInfo;
        const req = http.request(
          {
            port,
            host: '127.0.0.1',
            method: 'POST',
            path: `/v1/qemu-streams/convert?to=${to}`,
            headers: { 'content-type': OCTET },
          },
          (res) => {
            const parts: Buffer[] = [];
            res.on('data', (d: Buffer) => parts.push(d));
            res.on('end', () =>
              resolve({ status: res.statusCode, body: Buffer.concat(parts), complete: res.complete }),
            );
            res.on('error', (e) =>
              resolve({ status: res.statusCode, body: Buffer.concat(parts), complete: false, error: e.message }),
            );
            res.on('aborted', () =>
              resolve({ status: res.statusCode, body: Buffer.concat(parts), complete: false, error: 'aborted' }),
            );
          },
        );
        req.on('error', (e) => resolve({ body: Buffer.alloc(0), complete: false, error: e.message }));
        req.end(body);
      });
    try {
      const ok = await send('v22', base);
      expect(ok.status).toBe(200);
      expect(ok.complete).toBe(true);
      expect(ok.body.equals(concat(convertStream([base], 'v22').output))).toBe(true);
      const refused = await send('v22', wide);
      expect(refused.status).toBe(200); // it had started
      expect(refused.complete).toBe(false);
      expect(refused.body.length).toBeLessThan(wide.length);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
