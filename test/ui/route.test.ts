import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import express from 'express';
import request from 'supertest';
import { uiRoutes } from '../../api/routes/ui';

/** /ui/ (api/routes/ui.ts) without a browser: the files, their headers, and no build. */

let dir = '';
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-ui-'));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><cpreg-app></cpreg-app>');
  fs.writeFileSync(path.join(dir, 'app.js'), 'export {};');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('serves the built page with a strict content security policy; /ui redirects to /ui/', async () => {
  const app = express().use(uiRoutes({ dir }));
  const page = await request(app).get('/ui/');
  expect(page.status).toBe(200);
  expect(page.headers['content-type']).toMatch(/^text\/html/);
  expect(page.headers['content-security-policy']).toMatch(/default-src 'self'/);
  expect(page.headers['content-security-policy']).toMatch(/connect-src 'self'/);
  expect(page.headers['x-content-type-options']).toBe('nosniff');
  const js = await request(app).get('/ui/app.js');
  expect(js.status).toBe(200);
  expect(js.headers['content-type']).toMatch(/javascript/);
  const bare = await request(app).get('/ui');
  expect(bare.status).toBe(301);
  expect(bare.headers.location).toBe('/ui/');
  const none = await request(app).get('/ui/nope.js');
  expect(none.status).toBe(404);
  expect(none.headers['content-type']).toMatch(/application\/problem\+json/);
  expect(JSON.parse(none.text)).toMatchObject({ status: 404, detail: expect.stringMatching(/^no file \/nope\.js/) });
});

test('not built: a 404 problem that says how to build it', async () => {
  const app = express().use(uiRoutes({ dir: null }));
  const r = await request(app).get('/ui/');
  expect(r.status).toBe(404);
  expect(JSON.parse(r.text).detail).toMatch(/npm run build/);
});

test('only GET and HEAD: anything else goes on to the routes after it', async () => {
  const app = express()
    .use(uiRoutes({ dir }))
    .use((_req, res) => void res.status(405).end());
  expect((await request(app).post('/ui/')).status).toBe(405);
});
