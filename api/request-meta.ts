import { createHash } from 'crypto';
import type { IncomingHttpHeaders } from 'http';
import type { Request, Response } from 'express';
import { isBlobFormat, type BlobFormat } from '../domain/vmstate/format';
import type { MetadataInput } from '../app/command-handler';
import { conditionHolds, type VersionCondition } from '../app/conditions';
import { badRequest, HttpProblem } from './problem';

/** An id a client may give in a header (X-Request-Id, X-Correlation-Id, …): 1 to 128 visible ASCII characters. */
export const HEADER_ID = /^[\x21-\x7e]{1,128}$/;

function optionalId(headers: IncomingHttpHeaders, header: string): string | undefined {
  const v = headers[header];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !HEADER_ID.test(v))
    throw badRequest(`${header} must be 1 to 128 visible ASCII characters`);
  return v;
}

/** Who and why, for the events a request records. */
export function metadataOf(req: Request, res: Response): MetadataInput {
  return metadataFromHeaders(req.headers, res.locals.actor ?? 'anonymous', res.locals.requestId);
}

/** The same from the headers (lower-case names, as Node gives them), the actor and the request id. */
export function metadataFromHeaders(headers: IncomingHttpHeaders, actor: string, requestId: string): MetadataInput {
  const traceparent = traceparentOf(headers);
  return {
    actor,
    requestId,
    correlationId: optionalId(headers, 'x-correlation-id') ?? requestId,
    causationId: optionalId(headers, 'x-causation-id'),
    ...(traceparent ? { traceparent } : {}),
  };
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/** W3C Trace Context: a valid `traceparent` is recorded; an invalid one is ignored, as the spec says. */
function traceparentOf(headers: IncomingHttpHeaders): string | undefined {
  const raw = headers.traceparent;
  const v = typeof raw === 'string' ? raw.trim().toLowerCase() : undefined;
  const m = v === undefined ? null : TRACEPARENT.exec(v);
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return undefined;
  return v;
}

export interface IdempotencyKey {
  key: string;
  requestHash: string;
}

/** What identifies a request besides its body: method, URL, content type and conditions. */
export function requestPrefix(req: Request): string {
  return `${req.method} ${req.originalUrl}\n${req.get('content-type') ?? ''}\n${req.get('if-match') ?? ''}\n${req.get('if-none-match') ?? ''}\n`;
}

/** The Idempotency-Key header alone (validated), for a body hashed as it streams. */
export function idempotencyKeyOf(req: Request): string | undefined {
  const key = req.get('idempotency-key');
  if (key === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) throw badRequest('Idempotency-Key must be 1 to 255 visible ASCII characters');
  return key;
}

/** The Idempotency-Key header with a digest of the request it keys (method, URL, type, body). */
export function idempotencyOf(req: Request): IdempotencyKey | undefined {
  const key = idempotencyKeyOf(req);
  if (key === undefined) return undefined;
  const h = createHash('sha256');
  h.update(requestPrefix(req));
  if (Buffer.isBuffer(req.body)) h.update(req.body);
  else if (req.body !== undefined) h.update(JSON.stringify(req.body));
  return { key, requestHash: h.digest('hex') };
}

/** An entity tag of a list header: weak or strong, and its opaque text (without quotes). */
interface EntityTag {
  weak: boolean;
  opaque: string;
}

const TAG = /[ \t]*(?:(W\/)?"([\x21\x23-\x7e\x80-\xff]*)")?[ \t]*(,|$)/y;

/** `*` or a comma list of entity tags (RFC 9110 §8.8.3; empty list elements are allowed). */
function parseTags(header: string, v: string): '*' | EntityTag[] {
  if (v.trim() === '*') return '*';
  const tags: EntityTag[] = [];
  TAG.lastIndex = 0;
  for (;;) {
    const at = TAG.lastIndex;
    const m = TAG.exec(v);
    if (!m || TAG.lastIndex === at) {
      if (at >= v.length && tags.length) break;
      throw badRequest(
        `${header} must be * or a list of entity tags ("7", W/"7"), got ${JSON.stringify(v.slice(0, 60))}`,
      );
    }
    if (m[2] !== undefined) tags.push({ weak: m[1] !== undefined, opaque: m[2] });
    if (m[3] === '') break;
  }
  if (!tags.length) throw badRequest(`${header} names no entity tag`);
  return tags;
}

/** The version a strong tag of ours names; other tags name none (they never match). */
const versionOfTag = (opaque: string) => (/^[1-9]\d{0,14}$/.test(opaque) ? Number(opaque) : undefined);

/**
 * If-Match and If-None-Match → the condition on the vCPU's version (its ETag is `"<version>"`).
 * If-Match compares strongly (a weak tag never matches); If-None-Match weakly (RFC 9110 §13.1).
 */
export function versionCondition(req: Request): VersionCondition | undefined {
  const im = req.get('if-match');
  const inm = req.get('if-none-match');
  if (im === undefined && inm === undefined) return undefined;
  const c: VersionCondition = {};
  if (im !== undefined) {
    const t = parseTags('If-Match', im);
    c.match = t === '*' ? '*' : t.flatMap((x) => (x.weak ? [] : (versionOfTag(x.opaque) ?? [])));
  }
  if (inm !== undefined) {
    const t = parseTags('If-None-Match', inm);
    c.noneMatch = t === '*' ? '*' : t.flatMap((x) => versionOfTag(x.opaque) ?? []);
  }
  return c;
}

/**
 * A read's conditions: false from If-Match is a 412; a match of If-None-Match is a 304
 * (RFC 9110 §13.2.2). Answers and returns true when the read is done.
 */
export function answeredByCondition(req: Request, res: Response, version: number): boolean {
  const c = versionCondition(req);
  if (!c) return false;
  if (c.match !== undefined && !conditionHolds({ match: c.match }, version)) {
    throw new HttpProblem(
      412,
      'precondition-failed',
      'Precondition failed',
      `the vCPU is at version ${version}; If-Match does not name it`,
      { actualVersion: version },
    );
  }
  if (c.noneMatch !== undefined && !conditionHolds({ noneMatch: c.noneMatch }, version)) {
    res.status(304).set('ETag', etagOf(version)).end();
    return true;
  }
  return false;
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
