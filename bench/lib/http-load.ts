import { httpRequest, keepAliveAgent, type RawRequest } from './http-client';

/** Closed-loop load: `clients` keep-alive clients, each sending its next request when the last is answered. */

export interface LoadResult {
  requests: number;
  seconds: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  /** Every 2xx answer, warm-up included (each acknowledged write must be in the store). */
  acked: number;
  /** Answers outside 2xx (must be 0 for a valid run). */
  errors: number;
  firstError?: string;
}

export interface LoadOptions {
  port: number;
  clients: number;
  warmupMs: number;
  durationMs: number;
  /** The request client `c` sends as its `n`-th. */
  request: (c: number, n: number) => RawRequest;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const agent = keepAliveAgent(o.clients);
  const latencies: number[] = [];
  let errors = 0;
  let acked = 0;
  let firstError: string | undefined;
  let measuring = false;
  let stop = false;
  const client = async (c: number) => {
    for (let n = 0; !stop; n++) {
      const t0 = process.hrtime.bigint();
      try {
        const r = await httpRequest({ host: '127.0.0.1', port: o.port, agent }, o.request(c, n));
        if (r.status >= 200 && r.status < 300) acked++;
        else {
          errors++;
          firstError ??= `${r.status} ${r.text.slice(0, 200)}`;
        }
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
      }
      if (measuring) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  };
  const all = Array.from({ length: o.clients }, (_, c) => client(c));
  await new Promise((r) => setTimeout(r, o.warmupMs));
  errors = 0;
  measuring = true;
  const start = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, o.durationMs));
  measuring = false;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const requests = latencies.length;
  stop = true;
  await Promise.all(all);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { requests, seconds, acked, rps: requests / seconds, p50ms: q(0.5), p99ms: q(0.99), errors, firstError };
}

export const fmt = (r: LoadResult) =>
  `${Math.round(r.rps).toLocaleString('en-US')} req/s, p50 ${r.p50ms.toFixed(2)} ms, p99 ${r.p99ms.toFixed(2)} ms (${r.requests} requests${r.errors ? `, ${r.errors} ERRORS: ${r.firstError}` : ''})`;
