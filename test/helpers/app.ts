import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createApp } from '../../api/app';
import type { TokenEntry } from '../../api/auth';
import { DEFAULTS } from '../../api/config';
import type { AppContext } from '../../api/context';
import { createLogger } from '../../api/logging';
import { CpregService } from '../../app/service';
import { SqliteEventStore } from '../../storage/sqlite/sqlite-event-store';
import { referenceFile } from './reference';

export interface TestApp {
  app: ReturnType<typeof createApp>;
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
  opts: { tokens?: TokenEntry[]; snapshotEvery?: number; streamLimit?: number } = {},
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
    onShutdown: (fn) => hooks.push(fn),
  };
  return {
    app: createApp(ctx),
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

/** A kernel list (vregs config) plus the 14 DEMUX ids a real host adds, as hex strings. */
export function kvmKernelList(): string[] {
  const ids = JSON.parse(fs.readFileSync(referenceFile('get-reg-list-vregs.json'), 'utf8')) as string[];
  return [
    ...ids,
    ...Array.from({ length: 14 }, (_, n) => '0x' + (0x6020000000110000n + BigInt(n)).toString(16).padStart(16, '0')),
  ];
}
