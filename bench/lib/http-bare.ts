/**
 * The baseline of bench/http.ts: a bare express 5 server whose routes parse the same JSON
 * bodies as cpreg-ledger's (express.json, same limit) and answer a small JSON — no validation,
 * no domain, no storage. Run as a child: PORT=… node build/bench/lib/http-bare.js
 */
import express from 'express';
import * as http from 'node:http';

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
const json = express.json({ limit: 1024 * 1024, type: 'application/json', strict: true });
let version = 0;
app.get('/healthz', (_req, res) => {
  res.json({ status: 'ok' });
});
app.put('/v1/cpus/:id/registers/:reg', json, (req, res) => {
  version++;
  res.set('ETag', `"${version}"`).json({
    id: req.params.id,
    version,
    written: [{ id: req.params.reg, value: (req.body as { value: string }).value }],
  });
});
app.post('/v1/cpus/:id/syncs', json, (req, res) => {
  version++;
  res.set('ETag', `"${version}"`).json({
    id: req.params.id,
    version,
    direction: (req.body as { direction: string }).direction,
    read: Object.keys((req.body as { values: object }).values).length,
  });
});
const server = http.createServer(app);
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
process.once('SIGTERM', () => server.close(() => process.exit(0)));
