import express from 'express';
import { unsupportedMediaType } from './problem';
import type { NextFunction, Request, Response } from 'express';

/** Body limits: JSON 1 MiB; blobs 4 MiB — far above the largest possible cpreg list. */
const JSON_LIMIT = 1024 * 1024;
const BLOB_LIMIT = 4 * 1024 * 1024;

export const jsonBody = express.json({ limit: JSON_LIMIT, type: 'application/json', strict: true });
export const blobBody = express.raw({ limit: BLOB_LIMIT, type: 'application/octet-stream' });

export function requireJson(req: Request, _res: Response, next: NextFunction): void {
  if (!req.is('application/json'))
    return next(unsupportedMediaType(`${req.method} ${req.path} takes application/json`));
  next();
}

export function requireBlob(req: Request, _res: Response, next: NextFunction): void {
  if (!req.is('application/octet-stream'))
    return next(unsupportedMediaType(`${req.method} ${req.path} takes application/octet-stream`));
  next();
}
