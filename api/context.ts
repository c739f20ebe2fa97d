import type { CpregService } from '../app/service';
import type { TokenEntry } from './auth';
import type { Limits } from './config';
import type { Logger } from './logging';
import type { Metrics } from './metrics';
import type { Readiness } from './readiness';

/** What the HTTP layer is given: the application service, and how to serve it. */
export interface AppContext {
  service: CpregService;
  logger: Logger;
  tokens?: TokenEntry[];
  /** Largest QEMU migration stream accepted, in bytes. */
  streamLimit: number;
  /** Rewrite output held back before the answer starts, in bytes. */
  rewriteHoldBack: number;
  limits: Limits;
  metrics: Metrics;
  /** Storage trouble seen lately, for /readyz. */
  readiness: Readiness;
  /** Called when the service is shutting down: long-lived responses (SSE) end. */
  onShutdown: (fn: () => void) => void;
}

/**
 * What every answer tells the service (the app's and the fast lane's): the metrics count and
 * time it under its route's pattern; a write that went through says the storage is fine (again).
 */
export function noteAnswer(
  ctx: Pick<AppContext, 'metrics' | 'readiness'>,
  route: string,
  method: string,
  status: number,
  ms: number,
): void {
  ctx.metrics.answeredOn(route, method, status, ms);
  if (method !== 'GET' && method !== 'HEAD' && status < 300) ctx.readiness.ok();
}
