import * as fs from 'node:fs';
import * as path from 'node:path';
import request from 'supertest';
import { parse } from 'yaml';
import { makeTestApp, type TestApp } from '../helpers/app';

/** openapi.yaml and the routes agree: every operation is served, every route is in the contract. */

type Paths = Record<string, Record<string, unknown>>;
const contract = parse(fs.readFileSync(path.resolve(__dirname, '../../openapi.yaml'), 'utf8')) as { paths: Paths };
const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;
const operations = Object.entries(contract.paths).flatMap(([p, ops]) =>
  METHODS.filter((m) => m in ops).map((m) => ({ method: m, path: p })),
);

let t: TestApp;
beforeAll(() => {
  t = makeTestApp();
});
afterAll(() => t.close());

test.each(operations)('$method $path is served', async ({ method, path: p }) => {
  const url = p.replace(/\{[^}]+\}/g, 'x1');
  const r = await request(t.app)[method](url);
  // routed: whatever it answers, it is not the "no route" 404 nor a 405
  expect(r.status).not.toBe(405);
  if (r.status === 404) expect(r.body.detail).not.toMatch(/^no route /);
});

test('every route the app serves is in the contract', () => {
  type Layer = { handle?: { stack?: Layer[] }; route?: { path: string; methods: Record<string, boolean> } };
  const stack = (t.express as unknown as { router: { stack: Layer[] } }).router.stack;
  const routes = stack
    .flatMap((l) => l.handle?.stack ?? [])
    .flatMap((l) => (l.route ? Object.keys(l.route.methods).map((m) => `${m} ${l.route!.path}`) : []));
  const inContract = new Set(operations.map((o) => `${o.method} ${o.path.replace(/\{([^}]+)\}/g, ':$1')}`));
  expect(routes.filter((r) => !inContract.has(r))).toEqual([]);
});
