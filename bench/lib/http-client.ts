import * as http from 'node:http';

/** A minimal HTTP client over node:http: raw paths, raw headers and bodies, keep-alive, a timeout. */

export interface RawRequest {
  method: string;
  /** Sent as is (percent-encode it yourself). */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  timeoutMs?: number;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

export interface Target {
  host: string;
  port: number;
  agent?: http.Agent;
}

export const keepAliveAgent = (maxSockets = 16) => new http.Agent({ keepAlive: true, maxSockets });

export function httpRequest(t: Target, r: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers = { ...r.headers };
    // Node sends a GET's body with neither length nor chunking: always say how long it is
    if (r.body !== undefined && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-length'))
      headers['content-length'] = String(Buffer.byteLength(r.body));
    const req = http.request(
      { host: t.host, port: t.port, agent: t.agent, method: r.method, path: r.path, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
        });
      },
    );
    req.setTimeout(r.timeoutMs ?? 10_000, () => req.destroy(new Error(`timeout: ${r.method} ${r.path.slice(0, 80)}`)));
    req.on('error', reject);
    req.end(r.body);
  });
}

/** JSON in, JSON out: `json` is the body parsed (unchecked: T is the caller's word), undefined when it is not JSON. */
export async function jsonRequest<T = unknown>(
  t: Target,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<RawResponse & { json: T | undefined }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const res = await httpRequest(t, {
    method,
    path,
    body: payload,
    headers: { ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
  });
  let json: T | undefined;
  try {
    json = JSON.parse(res.text) as T;
  } catch {
    json = undefined;
  }
  return { ...res, json };
}
