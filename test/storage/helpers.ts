import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SqliteEventStore, type SqliteStoreOptions } from '../../storage/sqlite/sqlite-event-store';
import type { NewEvent } from '../../storage/event-store';

/** A temp directory removed by the returned cleanup. */
export function tempDir(prefix = 'cpreg-storage-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A store on a fresh on-disk database; `done()` closes it and removes the directory. */
export function freshStore(opts: Partial<SqliteStoreOptions> = {}) {
  const t = tempDir();
  const file = path.join(t.dir, 'cpreg.db');
  const store = new SqliteEventStore({ file, ...opts });
  return {
    store,
    file,
    dir: t.dir,
    reopen: (more: Partial<SqliteStoreOptions> = {}) => new SqliteEventStore({ file, ...opts, ...more }),
    done: async () => {
      await store.close().catch(() => undefined);
      t.cleanup();
    },
  };
}

export const ev = (n: number, type = 'Tested'): NewEvent => ({
  type,
  schemaVersion: 1,
  data: { n, value: `0x${n.toString(16).padStart(16, '0')}` },
});
export const meta = { actor: 'test' };

/** TCG-style arm64 sysreg ids 0x603000000013xxxx. */
export const sysreg = (i: number): bigint => 0x6030000000130000n | BigInt(i);
