import { Writable } from 'node:stream';
import request from 'supertest';
import { createApp } from '../../api/app';
import { createLogger } from '../../api/logging';
import { makeTestApp, type TestApp } from '../helpers/app';

/** One log line per answer; a refusal's line names its problem type and detail, never a token. */
let t: TestApp;
const lines: string[] = [];
beforeAll(() => {
  t = makeTestApp();
});
afterAll(() => t.close());

test('a 4xx line carries the problem type and detail; a 2xx line the request', async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const app = createApp({ ...t.ctx, logger: createLogger('info', sink) });
  await request(app).get('/v1/cpus/nope?token=secret');
  await request(app).get('/healthz');
  await new Promise((r) => setTimeout(r, 50));
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const refused = parsed.find((l) => l.status === 400)!;
  expect(refused).toMatchObject({
    msg: 'request',
    path: '/v1/cpus/nope',
    problem: 'urn:cpreg-ledger:problem:bad-request',
  });
  expect(String(refused.detail)).toMatch(/unknown query parameter "token"/);
  expect(parsed.find((l) => l.status === 200)).toMatchObject({ msg: 'request', path: '/healthz' });
  expect(lines.join('\n')).not.toContain('secret');
});
