import express from 'express';
import { unsupportedMediaType } from './problem';
import type { NextFunction, Request, Response } from 'express';

/** Body limits: JSON 1 MiB; blobs 4 MiB — far above the largest possible cpreg list. */
export const JSON_LIMIT = 1024 * 1024;
const BLOB_LIMIT = 4 * 1024 * 1024;

export const jsonBody = express.json({ limit: JSON_LIMIT, type: 'application/json', strict: true });
export const blobBody = express.raw({ limit: BLOB_LIMIT, type: 'application/octet-stream' });

/**
 * A JSON body kept as its text (a route that reads it without JSON.parse: api/sync-text.ts), read
 * as jsonBody reads it: the same limit, inflation and decoding, and a charset other than UTF-*
 * refused before the body is read, as jsonBody refuses it. jsonFromText then parses it as
 * jsonBody would have, strictness and errors included.
 */
const textOfJson = express.text({ limit: JSON_LIMIT, type: 'application/json', defaultCharset: 'utf-8' });
export function jsonTextBody(req: Request, res: Response, next: NextFunction): void {
  const charset = charsetOf(req.headers['content-type']);
  if (charset !== undefined && !charset.startsWith('utf-')) {
    const e = new Error(`unsupported charset "${charset.toUpperCase()}"`);
    return next(Object.assign(e, { status: 415, type: 'charset.unsupported' }));
  }
  void textOfJson(req, res, next);
}

function charsetOf(contentType: string | undefined): string | undefined {
  const m = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(contentType ?? '');
  return m ? (m[1] ?? m[2] ?? '').toLowerCase() : undefined;
}

/** What jsonBody makes of a body's text: {} for none, else JSON.parse of an object or array. */
export function jsonFromText(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  if (text.length === 0) return {};
  const first = text.replace(/^[ \t\n\r]+/, '')[0]; // JSON's whitespace only
  const fail = (message: string) =>
    Object.assign(new SyntaxError(message), { status: 400, statusCode: 400, type: 'entity.parse.failed', body: text });
  if (first !== '{' && first !== '[')
    throw fail(`Unexpected token '${first ?? ''}', JSON must be an object or an array`);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw fail((e as Error).message);
  }
}

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
