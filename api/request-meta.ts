import { createHash } from 'crypto';
import type { Request, Response } from 'express';
import { isBlobFormat, type BlobFormat } from '../domain/vmstate/format';
import type { MetadataInput } from '../storage/event-store';
import { badRequest } from './problem';

const HEADER_ID = /^[\x21-\x7e]{1,128}$/;

function optionalId(req: Request, header: string): string | undefined {
  const v = req.get(header);
  if (v === undefined) return undefined;
  if (!HEADER_ID.test(v)) throw badRequest(`${header} must be 1 to 128 visible ASCII characters`);
  return v;
}

/** Who and why, for the events a request records. */
export function metadataOf(req: Request, res: Response): MetadataInput {
  const requestId: string = res.locals.requestId;
  return {
    actor: res.locals.actor ?? 'anonymous',
    requestId,
    correlationId: optionalId(req, 'x-correlation-id') ?? requestId,
    causationId: optionalId(req, 'x-causation-id'),
  };
}

export interface IdempotencyKey {
  key: string;
  requestHash: string;
}

/** The Idempotency-Key header with a digest of the request it keys (method, URL, type, body). */
export function idempotencyOf(req: Request): IdempotencyKey | undefined {
  const key = req.get('idempotency-key');
  if (key === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) throw badRequest('Idempotency-Key must be 1 to 255 visible ASCII characters');
  const h = createHash('sha256');
  h.update(`${req.method} ${req.originalUrl}\n${req.get('content-type') ?? ''}\n${req.get('if-match') ?? ''}\n`);
  if (Buffer.isBuffer(req.body)) h.update(req.body);
  else if (req.body !== undefined) h.update(JSON.stringify(req.body));
  return { key, requestHash: h.digest('hex') };
}

/**
 * If-Match → the version a write is based on. `"7"`, `W/"7"` and `7` all mean 7; `*` means
 * "any existing version" (undefined here). A list matches if one of its versions does: the
 * newest given is used, so a stale list still fails.
 */
export function ifMatchVersion(req: Request): number | undefined {
  const v = req.get('if-match');
  if (v === undefined || v.trim() === '*') return undefined;
  const versions = v.split(',').map((part) => {
    const m = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(part);
    if (!m)
      throw badRequest(`If-Match must be an ETag of this service ("<version>"), got ${JSON.stringify(v.slice(0, 60))}`);
    return Number(m[1]);
  });
  return Math.max(...versions);
}

export const etagOf = (version: number) => `"${version}"`;

export function parseVersionParam(x: unknown, name: string): number | undefined {
  if (x === undefined) return undefined;
  if (typeof x !== 'string' || !/^[1-9]\d{0,14}$/.test(x)) throw badRequest(`${name} must be a positive integer`);
  return Number(x);
}

export function parseLimit(x: unknown, max = 1000, dflt = 100): number {
  if (x === undefined) return dflt;
  if (typeof x !== 'string' || !/^\d{1,7}$/.test(x) || Number(x) < 1 || Number(x) > max) {
    throw badRequest(`limit must be an integer from 1 to ${max}`);
  }
  return Number(x);
}

export function parseAfter(x: unknown): number {
  if (x === undefined) return 0;
  if (typeof x !== 'string' || !/^\d{1,15}$/.test(x)) throw badRequest('after must be a non-negative integer');
  return Number(x);
}

/** A path parameter as a string (express types allow arrays for wildcard routes). */
export function pathParam(req: Request, name: string): string {
  const v = (req.params as Record<string, string | string[] | undefined>)[name];
  if (typeof v !== 'string') throw badRequest(`path parameter ${name} is missing`);
  return v;
}

export function formatParam(x: unknown): BlobFormat {
  if (!isBlobFormat(x))
    throw badRequest(
      `format must be v22 or v23${x === undefined ? ' (query parameter format is required)' : `, got ${JSON.stringify(String(x).slice(0, 20))}`}`,
    );
  return x;
}
