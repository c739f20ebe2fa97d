import * as fs from 'fs';
import * as path from 'path';
import express, { Router } from 'express';

/**
 * The web page at /ui/: the static files `npm run build:ui` writes into dist/ui/ (ui/build.js),
 * found beside the sources or beside dist/. The page speaks only the public API (the typed client,
 * with the user's token), so these files need no auth; everything else of the service is /v1.
 * Not built: /ui/ answers a 404 problem saying how to build it.
 */

/** dist/ui when it holds a built page (index.html and app.js). */
export function uiDirectory(): string | undefined {
  for (const d of [path.resolve(__dirname, '../../dist/ui'), path.resolve(__dirname, '../../ui')]) {
    if (fs.existsSync(path.join(d, 'index.html')) && fs.existsSync(path.join(d, 'app.js'))) return d;
  }
  return undefined;
}

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'", // uPlot sizes its elements with style attributes
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

/** `dir`: the built page (default: found by uiDirectory; null: none, as before a build). */
export function uiRoutes(opts: { dir?: string | null } = {}): Router {
  const r = Router();
  const dir = opts.dir === undefined ? uiDirectory() : (opts.dir ?? undefined);
  r.use('/ui', (_req, res, next) => {
    res.set({
      'Content-Security-Policy': CSP,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-cache',
    });
    next();
  });
  if (dir) r.use('/ui', express.static(dir, { index: 'index.html', redirect: true, fallthrough: true }));
  r.use('/ui', (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    res
      .status(404)
      .type('application/problem+json')
      .send(
        JSON.stringify({
          type: 'urn:cpreg-ledger:problem:not-found',
          title: 'Not found',
          status: 404,
          detail: dir
            ? `no file ${req.path} in the web page (open /ui/)`
            : 'the web page is not built: run `npm run build` (or `npm run build:ui`)',
          instance: req.originalUrl.split('?')[0]!.slice(0, 512),
        }),
      );
  });
  return r;
}
