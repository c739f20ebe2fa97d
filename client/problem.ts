/**
 * RFC 9457 problems as errors. Every refusal of the service is `application/problem+json`
 * ({type, title, status, detail, registers?, …}); `unwrap` turns an openapi-fetch answer into its
 * data or throws a ProblemError carrying the problem, so callers write the happy path and catch one
 * error type.
 */
import type { components } from '../api/generated/openapi';

type Problem = components['schemas']['Problem'];

export class ProblemError extends Error {
  override readonly name = 'ProblemError';
  constructor(
    /** The HTTP status. */
    readonly status: number,
    /** The problem+json body, when the answer was one. */
    readonly problem: Problem | undefined,
    /** The answer's X-Request-Id (the server's log has it). */
    readonly requestId: string | undefined,
    message: string,
  ) {
    super(message);
  }
  /** The problem type's last segment (`urn:cpreg-ledger:problem:not-found` → `not-found`). */
  get kind(): string | undefined {
    return this.problem?.type.split(/[/:]/).pop();
  }
}

export function isProblem(x: unknown): x is Problem {
  const p = x as Partial<Problem> | null;
  return (
    typeof p === 'object' &&
    p !== null &&
    typeof p.type === 'string' &&
    typeof p.status === 'number' &&
    typeof p.detail === 'string'
  );
}

/** One line: `422 Malformed migration blob: at byte 300: …` (or the status and the start of the body). */
export function problemLine(status: number, body: unknown): string {
  if (isProblem(body)) return `${status} ${body.title ?? ''}: ${body.detail}`.replace(/\s+/g, ' ');
  const text = typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body);
  return `the server answered ${status}${text ? `: ${text.slice(0, 200).replace(/\s+/g, ' ')}` : ''}`;
}

/** The ProblemError of an answer that is not a success. */
export function problemError(response: Response, body: unknown): ProblemError {
  return new ProblemError(
    response.status,
    isProblem(body) ? body : undefined,
    response.headers.get('x-request-id') ?? undefined,
    problemLine(response.status, body),
  );
}

/**
 * The data of a successful openapi-fetch answer; a ProblemError for any other status (a 304 too:
 * ask for it with If-None-Match and look at `response` yourself).
 */
export function unwrap<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (!r.response.ok || r.error !== undefined) throw problemError(r.response, r.error);
  return r.data as T;
}
