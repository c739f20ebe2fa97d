import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type * as http from 'http';
import { createApp } from '../../api/app';
import { withFastLane } from '../../api/fast-lane';
import type { TokenEntry } from '../../api/auth';
import { DEFAULTS, type Limits } from '../../api/config';
import type { AppContext } from '../../api/context';
import { createLogger } from '../../api/logging';
import { Metrics } from '../../api/metrics';
import { Readiness } from '../../api/readiness';
import { CpregService } from '../../app/service';
import { SqliteEventStore } from '../../storage/sqlite/sqlite-event-store';
import { hex, kvmList } from './kvm-list';

export interface TestApp {
  /** What the server serves: the express app behind the fast lane (api/fast-lane.ts). */
  app: http.RequestListener;
  /** The express app alone. */
  express: ReturnType<typeof createApp>;
  ctx: AppContext;
  /** The store under the service: tests read it directly to check what was recorded. */
  store: SqliteEventStore;
  service: CpregService;
  dir: string;
  dbFile: string;
  close: () => Promise<void>;
}

/** The real app on a fresh on-disk database in a temp dir (logs silenced). */
export function makeTestApp(
  opts: { tokens?: TokenEntry[]; snapshotEvery?: number; streamLimit?: number; limits?: Partial<Limits> } = {},
): TestApp {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-api-'));
  const dbFile = path.join(dir, 'cpreg.db');
  const store = new SqliteEventStore({ file: dbFile });
  const service = new CpregService(store, { snapshotEvery: opts.snapshotEvery ?? 10 });
  const hooks: Array<() => void> = [];
  const ctx: AppContext = {
    service,
    logger: createLogger('silent'),
    ...(opts.tokens ? { tokens: opts.tokens } : {}),
    streamLimit: opts.streamLimit ?? DEFAULTS.streamLimit,
    rewriteHoldBack: DEFAULTS.rewriteHoldBack,
    limits: { ...DEFAULTS.limits, ...opts.limits },
    readiness: new Readiness(),
    metrics: new Metrics(),
    onShutdown: (fn) => hooks.push(fn),
  };
  return {
    ...(() => {
      const express = createApp(ctx);
      return { express, app: withFastLane(ctx, express) };
    })(),
    ctx,
    store,
    service,
    dir,
    dbFile,
    close: async () => {
      hooks.forEach((fn) => fn());
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A KVM vCPU's register list (see kvm-list.ts), as hex strings. */
export function kvmKernelList(): string[] {
  return kvmList().ids.map(hex);
}
