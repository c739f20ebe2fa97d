import request from 'supertest';
import { hashToken, loadTokens, type TokenEntry } from '../../api/auth';
import { makeTestApp, type TestApp } from '../helpers/app';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const entry = (name: string, role: 'read' | 'write', token: string): TokenEntry => ({
  name,
  role,
  sha256: Buffer.from(hashToken(token), 'hex'),
});

let t: TestApp;
beforeEach(() => {
  t = makeTestApp({ tokens: [entry('ci-writer', 'write', 'w-secret'), entry('auditor', 'read', 'r-secret')] });
});
afterEach(() => t.close());

const json = 'application/json';

test('every /v1 request needs a bearer token; /healthz does not', async () => {
  expect((await request(t.app).get('/healthz')).status).toBe(200);
  const none = await request(t.app).get('/v1/cpus');
  expect(none.status).toBe(401);
  expect(none.headers['content-type']).toMatch(/problem\+json/);
  expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
  expect((await request(t.app).get('/v1/cpus').set('authorization', 'Bearer nope')).status).toBe(401);
  expect((await request(t.app).get('/v1/cpus').set('authorization', 'Basic dzp3')).status).toBe(401);
});

test('write tokens write, and their name is the actor of the events; read tokens cannot write', async () => {
  const created = await request(t.app)
    .post('/v1/cpus')
    .set('authorization', 'Bearer w-secret')
    .set('content-type', json)
    .send({ id: 'a', accelerator: 'hvf' });
  expect(created.status).toBe(201);
  const denied = await request(t.app)
    .put('/v1/cpus/a/registers/TPIDR_EL0')
    .set('authorization', 'Bearer r-secret')
    .set('content-type', json)
    .send({ value: '0x1' });
  expect(denied.status).toBe(403);
  expect(denied.body.type).toBe('urn:cpreg-ledger:problem:forbidden');
  const read = await request(t.app).get('/v1/cpus/a/events').set('authorization', 'Bearer r-secret');
  expect(read.status).toBe(200);
  expect(read.body.events).toHaveLength(1);
  expect(read.body.events[0].metadata.actor).toBe('ci-writer');
  // a reader may run the pre-flight and take an export (the export is recorded with its name)
  const blob = await request(t.app)
    .get('/v1/cpus/a/migration?format=v22')
    .set('authorization', 'Bearer r-secret')
    .buffer(true);
  expect(blob.status).toBe(200);
  const check = await request(t.app)
    .post('/v1/cpus/a/migration/check?format=v22')
    .set('authorization', 'Bearer r-secret')
    .set('content-type', 'application/octet-stream')
    .send(blob.body);
  expect(check.status).toBe(200);
  const events = (await request(t.app).get('/v1/cpus/a/events').set('authorization', 'Bearer r-secret')).body.events;
  expect(events.map((e: { type: string; metadata: { actor: string } }) => [e.type, e.metadata.actor])).toEqual([
    ['VcpuCreated', 'ci-writer'],
    ['BlobExported', 'auditor'],
  ]);
});

test('the tokens file holds names, roles and hashes only; a bad file is refused at start', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-tokens-'));
  const file = path.join(dir, 'tokens.json');
  fs.writeFileSync(file, JSON.stringify([{ name: 'ci', role: 'write', sha256: hashToken('x') }]));
  expect(loadTokens(file)).toEqual([{ name: 'ci', role: 'write', sha256: Buffer.from(hashToken('x'), 'hex') }]);
  fs.writeFileSync(file, JSON.stringify([{ name: 'ci', role: 'admin', sha256: hashToken('x') }]));
  expect(() => loadTokens(file)).toThrow(/role/);
  fs.writeFileSync(file, JSON.stringify([{ name: 'ci', role: 'read', token: 'plain' }]));
  expect(() => loadTokens(file)).toThrow(/sha256/);
  fs.rmSync(dir, { recursive: true, force: true });
});
