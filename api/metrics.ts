import type { Request } from 'express';
import { handedOver } from './handover';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StoreObserver } from '../storage/observer';

/**
 * The service's metrics in Prometheus' text format (GET /metrics): requests by route and status
 * with latency histograms, appends, group-commit batch sizes, WAL sync latency, SSE subscribers,
 * stream bytes, snapshot writes and state cache hits; plus Node's process metrics.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'cpreg_http_requests_total',
    help: 'HTTP requests answered, by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'cpreg_http_request_duration_seconds',
    help: 'Time to answer a request, by route and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  readonly appends = new Counter({
    name: 'cpreg_events_appended_total',
    help: 'Events appended (committed)',
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'cpreg_group_commit_batch_size',
    help: 'Append groups committed per group-commit transaction',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000],
    registers: [this.registry],
  });
  readonly fsync = new Histogram({
    name: 'cpreg_wal_sync_seconds',
    help: 'Time for the WAL sync (fdatasync) that makes a batch durable',
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });
  readonly sseClients = new Gauge({
    name: 'cpreg_sse_clients',
    help: 'Event-stream subscribers connected now',
    registers: [this.registry],
  });
  readonly streamBytes = new Counter({
    name: 'cpreg_stream_bytes_total',
    help: 'QEMU migration stream bytes received, by route',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly snapshots = new Counter({
    name: 'cpreg_snapshots_written_total',
    help: 'Snapshots written (a cache of folded state)',
    registers: [this.registry],
  });
  readonly cache = new Counter({
    name: 'cpreg_state_cache_total',
    help: 'State loads answered from the in-memory cache (hit) or by a fold (miss)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'cpreg_' });
  }

  /** The labelled series of each (route, method[, status]) seen: prom-client hashes labels per call. */
  private readonly series = new Map<string, { count: { inc(): void }; time: { observe(v: number): void } }>();

  /** The pattern of the route that answered a request (never the raw path): its metrics label. */
  static routeOf(req: Request): string {
    return req.route
      ? `${req.baseUrl}${String((req.route as { path: string }).path)}`
      : (handedOver(req)?.route ?? 'unmatched');
  }

  /** Counts and times an answer, labelled by its route's pattern. */
  answeredOn(route: string, method: string, statusCode: number, ms: number): void {
    const status = String(statusCode);
    const key = `${route} ${method} ${status}`;
    let s = this.series.get(key);
    if (!s) {
      // bounded: route patterns × the methods Node parses × statuses
      s = { count: this.requests.labels(route, method, status), time: this.latency.labels(route, method) };
      this.series.set(key, s);
    }
    s.time.observe(ms / 1000);
    s.count.inc();
  }

  /** The store's observer: batches, syncs, appends. */
  storeObserver(): StoreObserver {
    return {
      batch: (groups) => this.batchSize.observe(groups),
      durable: (seconds) => this.fsync.observe(seconds),
      appended: (events) => this.appends.inc(events),
    };
  }
}
