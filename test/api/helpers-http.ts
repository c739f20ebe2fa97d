import type { RawResponse } from '../../bench/lib/http-client';

/**
 * Why a 4xx answer is not an RFC 9457 problem as the contract promises (problem+json with
 * type, title, status = the HTTP status, detail), or undefined when it is one.
 */
export function problemShapeError(res: RawResponse, method = 'GET'): string | undefined {
  const ct = String(res.headers['content-type'] ?? '');
  if (!/^application\/problem\+json/.test(ct))
    return `content-type is ${JSON.stringify(ct)}, not application/problem+json`;
  if (method === 'HEAD') return undefined; // no body to check
  let p: Record<string, unknown>;
  try {
    p = JSON.parse(res.text) as Record<string, unknown>;
  } catch {
    return 'the problem body is not JSON';
  }
  for (const k of ['type', 'title', 'detail'] as const)
    if (typeof p[k] !== 'string' || !p[k]) return `problem.${k} missing`;
  if (p.status !== res.status) return `problem.status ${String(p.status)} differs from the HTTP status`;
  return undefined;
}

export function expectProblemShape(res: RawResponse, method = 'GET'): void {
  const why = problemShapeError(res, method);
  if (why) throw new Error(`${res.status}: ${why}: ${res.text.slice(0, 300)}`);
}
