/**
 * Child process of the fsync-count test: N appends, either sequential (each awaited) or all
 * at once, then exits. Run under strace to count fsync/fdatasync calls.
 * node fsync-child.js <db file> <migrations dir> <sequential|concurrent> <n>
 */
import { SqliteEventStore } from '../../storage/sqlite/sqlite-event-store';

async function main(): Promise<void> {
  const [file, migrationsDir, mode, nArg] = process.argv.slice(2);
  if (!file || !migrationsDir) throw new Error('usage: node fsync-child.js <db file> <migrations dir> <mode> <n>');
  const n = Number(nArg);
  const store = new SqliteEventStore({ file, migrationsDir });
  const one = (i: number) =>
    store.append({
      streamId: `s-${i % 10}`,
      expectedVersion: 'any',
      events: [{ type: 'T', schemaVersion: 1, data: { i } }],
      metadata: { actor: 'fsync-child' },
    });
  if (mode === 'sequential') {
    for (let i = 0; i < n; i++) await one(i);
  } else {
    await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
  }
  process.stdout.write(`appended ${n} in ${store.stats.commits} transactions\n`);
  // exit without close(): a crash-like end, and no close-time checkpoint in the count
  process.exit(0);
}

void main();
