import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createApp } from '../../api/app';
import type { TokenEntry } from '../../api/auth';
import type { AppContext } from '../../api/context';
import { createLogger } from '../../api/logging';
import { SqliteEventStore } from '../../storage/sqlite/sqlite-event-store';
import { VcpuRepository } from '../../storage/vcpu-repository';

export interface TestApp {
  app: ReturnType<typeof createApp>;
  ctx: AppContext;
  dir: string;
  dbFile: string;
  close: () => Promise<void>;
}

/** The real app on a fresh on-disk database in a temp dir (logs silenced). */
export function makeTestApp(opts: { tokens?: TokenEntry[]; snapshotEvery?: number } = {}): TestApp {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-api-'));
  const dbFile = path.join(dir, 'cpreg.db');
  const store = new SqliteEventStore({ file: dbFile });
  const repo = new VcpuRepository(store, { snapshotEvery: opts.snapshotEvery ?? 10 });
  const hooks: Array<() => void> = [];
  const ctx: AppContext = {
    store,
    repo,
    logger: createLogger('silent'),
    tokens: opts.tokens,
    onShutdown: (fn) => hooks.push(fn),
  };
  return {
    app: createApp(ctx),
    ctx,
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
  const file = path.resolve(__dirname, '../../../shared/reference/data/get-reg-list-vregs.json');
  const ids = JSON.parse(fs.readFileSync(file, 'utf8')) as string[];
  return [
    ...ids,
    ...Array.from({ length: 14 }, (_, n) => '0x' + (0x6020000000110000n + BigInt(n)).toString(16).padStart(16, '0')),
  ];
}
