import { createHash, timingSafeEqual } from 'crypto';
import * as fs from 'fs';
import type { NextFunction, Request, Response } from 'express';
import { HttpProblem } from './problem';

/**
 * Bearer tokens from the file named by CPREG_TOKENS_FILE: a JSON array of
 *   {"name": "ci", "role": "read" | "write", "sha256": "<hex sha256 of the token>"}
 * Only hashes are stored; the token's name is the actor recorded in events.
 */
export type Role = 'read' | 'write';
export interface TokenEntry {
  name: string;
  role: Role;
  sha256: Buffer;
}

export function loadTokens(file: string): TokenEntry[] {
  const raw: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!Array.isArray(raw)) throw new Error(`${file}: expected a JSON array of {name, role, sha256}`);
  return raw.map((t, i) => {
    const e = t as Record<string, unknown>;
    if (typeof e.name !== 'string' || !/^[A-Za-z0-9._@-]{1,64}$/.test(e.name))
      throw new Error(`${file}[${i}]: bad name`);
    if (e.role !== 'read' && e.role !== 'write') throw new Error(`${file}[${i}]: role must be read or write`);
    if (typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(e.sha256))
      throw new Error(`${file}[${i}]: sha256 must be 64 hex digits`);
    return { name: e.name, role: e.role, sha256: Buffer.from(e.sha256, 'hex') };
  });
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Whether a request changes stored state. A pre-flight check, a stream inspection and a stream
 * rewrite only read (read tokens may do them); a GET of a migration blob records the export as
 * an audit event, which a reader may cause.
 */
function writes(req: Request): boolean {
  return (
    WRITE_METHODS.has(req.method) && !/\/migration\/check$|\/qemu-streams\/(inspect|rewrite|convert)$/.test(req.path)
  );
}

/** The configured token a request's Authorization header presents, if any. */
export function tokenFor(authorization: string | undefined, tokens: readonly TokenEntry[]): TokenEntry | undefined {
  const m = /^Bearer ([\x21-\x7e]{1,512})$/.exec(authorization ?? '');
  const digest = m ? createHash('sha256').update(m[1]!, 'utf8').digest() : undefined;
  return digest && tokens.find((t) => timingSafeEqual(t.sha256, digest));
}

/** Sets res.locals.actor; with tokens configured, refuses missing, unknown or read-only tokens. */
export function authenticate(tokens: TokenEntry[] | undefined) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!tokens) {
      res.locals.actor = 'anonymous';
      return next();
    }
    const entry = tokenFor(req.get('authorization'), tokens);
    if (!entry) {
      res.set('WWW-Authenticate', 'Bearer realm="cpreg-ledger"');
      return next(new HttpProblem(401, 'unauthorized', 'Unauthorized', 'a valid bearer token is required'));
    }
    if (entry.role === 'read' && writes(req)) {
      return next(new HttpProblem(403, 'forbidden', 'Forbidden', `token ${entry.name} may only read`));
    }
    res.locals.actor = entry.name;
    next();
  };
}
