/**
 * Child process of the crash test (durability.test.ts): appends in a loop on a few streams
 * at once (so group commit batches them) and prints "ack <stream> <version> <hash>" for every
 * event only after its append resolved. The test kills it with SIGKILL at random moments.
 * Run compiled: node crash-child.js <db file> <migrations dir> [lanes]
 */
import { SqliteEventStore } from '../../storage/sqlite/sqlite-event-store';

const [file, migrationsDir, lanesArg] = process.argv.slice(2);
if (!file || !migrationsDir) throw new Error('usage: node crash-child.js <db file> <migrations dir> [lanes]');
// checkpoints every 64 KiB of WAL (and the writer's own at 256 KiB): kills land during them too
const store = new SqliteEventStore({
  file,
  migrationsDir,
  checkpoints: { stepBytes: 64 * 1024, capBytes: 256 * 1024 },
});
const lanes = Number(lanesArg ?? 4);

const big = (i: number) => {
  const values: Record<string, string> = {};
  for (let r = 0; r < 300; r++)
    values['0x603000000013' + r.toString(16).padStart(4, '0')] = '0x' + (i * 1000 + r).toString(16).padStart(16, '0');
  return values;
};

async function lane(l: number): Promise<void> {
  const streamId = `crash-${l}`;
  for (let i = 0; ; i++) {
    // mostly one small event; sometimes three at once (atomic), sometimes a 300-value event
    const n = i % 7 === 3 ? 3 : 1;
    const events = Array.from({ length: n }, (_, k) => ({
      type: i % 11 === 5 ? 'Synced' : 'Tick',
      schemaVersion: 1,
      data: i % 11 === 5 ? { read: big(i) } : { lane: l, i, k, pid: process.pid },
    }));
    const r = await store.append({ streamId, expectedVersion: 'any', events, metadata: { actor: 'crash-child' } });
    // a pipe write is synchronous on Linux: once printed, the parent will read it even after SIGKILL
    process.stdout.write(r.events.map((e) => `ack ${e.streamId} ${e.version} ${e.hash}\n`).join(''));
  }
}

process.stdout.write('ready\n');
for (let l = 0; l < lanes; l++) void lane(l);
