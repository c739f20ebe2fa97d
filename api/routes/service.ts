import * as fs from 'fs';
import * as path from 'path';
import { Router } from 'express';

/** Found beside the sources or beside dist/, whichever this runs from. */
function contractPath(): string {
  for (const p of [path.resolve(__dirname, '../../openapi.yaml'), path.resolve(__dirname, '../../../openapi.yaml')]) {
    if (fs.existsSync(p)) return p;
  }
  throw new Error('openapi.yaml not found');
}

export function serviceRoutes(): Router {
  const r = Router();
  const contract = fs.readFileSync(contractPath(), 'utf8');
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  r.get('/openapi.yaml', (_req, res) => {
    res.type('application/yaml').send(contract);
  });
  return r;
}
