import type { Response } from 'express';
import type { Accelerator } from '../domain/accelerator';
import type { DomainErrorKind } from '../domain/errors';
import { DomainError } from '../domain/errors';
import { registerInfo } from '../domain/names';
import { formatRegId, type RegId } from '../domain/regid';

/** RFC 9457 problem details; `type` is stable per kind of error (urn:cpreg-ledger:problem:<kind>). */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  registers?: Array<{ id: string; name: string; generic: boolean }>;
  errors?: Array<{ path: string; message: string }>;
  [extra: string]: unknown;
}

/** An error the HTTP layer raises itself (bad header, bad query, unknown route …). */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly kind: string,
    readonly title: string,
    detail: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
    this.name = 'HttpProblem';
  }
}

/** The one table from domain error kinds to HTTP: 404 unknown, 409 conflict, 422 refused. */
const DOMAIN_STATUS: Record<DomainErrorKind, { status: number; title: string }> = {
  'invalid-reg-id': { status: 400, title: 'Not a register id' },
  'invalid-value': { status: 422, title: 'Value refused' },
  'invalid-register-list': { status: 422, title: 'Register list refused' },
  'unknown-register': { status: 422, title: 'Unknown register' },
  'ambiguous-name': { status: 422, title: 'Ambiguous register name' },
  'malformed-blob': { status: 422, title: 'Malformed migration blob' },
  'blob-rejected': { status: 422, title: 'Migration blob refused' },
  'not-representable': { status: 409, title: 'Not representable in this format' },
  'vcpu-exists': { status: 409, title: 'vCPU exists' },
  'vcpu-not-found': { status: 404, title: 'vCPU not found' },
  'invalid-command': { status: 422, title: 'Command refused' },
};

export const problemType = (kind: string) => `urn:cpreg-ledger:problem:${kind}`;

function namedRegisters(ids: readonly RegId[], accelerator: Accelerator | undefined) {
  return ids.map((id) => {
    const info = registerInfo(id, accelerator ?? 'tcg');
    return { id: formatRegId(id), name: info.name, generic: info.generic };
  });
}

export function domainProblem(e: DomainError, accelerator?: Accelerator, detail = e.message): Problem {
  const { status, title } = DOMAIN_STATUS[e.kind];
  return {
    type: problemType(e.kind),
    title,
    status,
    detail,
    ...(e.registers.length ? { registers: namedRegisters(e.registers, accelerator) } : {}),
  };
}

export function httpProblem(e: HttpProblem): Problem {
  return { type: problemType(e.kind), title: e.title, status: e.status, detail: e.message, ...e.extra };
}

export function sendProblem(res: Response, p: Problem): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.status(p.status).type('application/problem+json').send(JSON.stringify(p));
}

// Shorthands for the errors the HTTP layer raises.
export const badRequest = (detail: string, extra: Record<string, unknown> = {}) =>
  new HttpProblem(400, 'bad-request', 'Malformed request', detail, extra);
export const notFound = (kind: string, detail: string) => new HttpProblem(404, kind, 'Not found', detail);
export const unsupportedMediaType = (detail: string) =>
  new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type', detail);
