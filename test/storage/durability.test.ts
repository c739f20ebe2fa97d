import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SqliteEventStore } from '../../storage/sqlite/sqlite-event-store';
import { childEnv, compileChildren, MIGRATIONS } from './compile';
import { tempDir } from './helpers';

/**
 * Durability, tested from outside the process: a child that appends is killed with SIGKILL at
 * random moments and every event it acknowledged must be there afterwards; and the fsync /
 * fdatasync calls of a child are counted with strace against its acknowledged appends.
 */
let t: ReturnType<typeof tempDir>;
let crashJs: string;
let fsyncJs: string;

beforeAll(() => {
  t = tempDir('cpreg-durability-');
  [crashJs, fsyncJs] = compileChildren(t.dir, ['test/storage/crash-child.ts', 'test/storage/fsync-child.ts']);
}, 120_000);
afterAll(() => t.cleanup());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Round {
  acks: Array<{ streamId: string; version: number; hash: string }>;
  ready: boolean;
}

/** Starts the child, kills it with SIGKILL after `killAfterMs`, returns what it acknowledged. */
async function crashRound(file: string, killAfterMs: number, during?: () => Promise<void>): Promise<Round> {
  const child = spawn(process.execPath, [crashJs, file, MIGRATIONS, '4'], {
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const round: Round = { acks: [], ready: false };
  let buf = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buf += chunk;
    const lines = buf.split('\n');
    buf = lines.pop()!; // a partial last line is not an acknowledgement
    for (const line of lines) {
      if (line === 'ready') round.ready = true;
      const m = /^ack (\S+) (\d+) ([0-9a-f]{64})$/.exec(line);
      // every group of the pattern takes part in a match
      if (m) round.acks.push({ streamId: m[1]!, version: Number(m[2]), hash: m[3]! });
    }
  });
  child.stderr.on('data', (c) => (stderr += c));
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await sleep(killAfterMs);
  await during?.();
  child.kill('SIGKILL');
  await closed;
  if (stderr && !/^\s*$/.test(stderr)) throw new Error(`child wrote to stderr: ${stderr}`);
  return round;
}

test('SIGKILL at random moments, 12 times: every acknowledged event is there and the chain verifies', async () => {
  const file = path.join(t.dir, 'crash.db');
  const acked = new Map<string, Round['acks'][number]>(); // by `${streamId}@${version}`
  let rounds = 0;
  let midRunVerifies = 0;
  for (let i = 0; i < 12; i++) {
    // some kills land during start-up (open, migrations), most in the middle of appends
    const killAfter = i < 2 ? 5 + Math.floor(Math.random() * 60) : 150 + Math.floor(Math.random() * 450);
    const round = await crashRound(file, killAfter, async () => {
      // readers never block the writer: verify from another connection while the child writes
      if (i % 3 !== 2 || !fs.existsSync(file)) return;
      const reader = new SqliteEventStore({ file, migrationsDir: MIGRATIONS });
      try {
        expect((await reader.verify()).ok).toBe(true);
        midRunVerifies++;
      } finally {
        await reader.close();
      }
    });
    for (const a of round.acks) acked.set(`${a.streamId}@${a.version}`, a);
    rounds++;

    const store = new SqliteEventStore({ file, migrationsDir: MIGRATIONS });
    try {
      for (const { streamId, version, hash } of acked.values()) {
        const found = await store.readStream(streamId, version, version);
        expect(found.map((e) => e.hash)).toEqual([hash]);
      }
      const report = await store.verify();
      expect(report).toMatchObject({ ok: true });
      expect(report.events).toBeGreaterThanOrEqual(acked.size);
    } finally {
      await store.close();
    }
  }
  expect(rounds).toBe(12);
  expect(midRunVerifies).toBeGreaterThan(0);
  // enough happened for the test to mean something
  expect(acked.size).toBeGreaterThan(200);
}, 120_000);

const straceWorks = (() => {
  try {
    return spawnSync('strace', ['-f', '-e', 'trace=fsync', '-o', '/dev/null', 'true']).status === 0;
  } catch {
    return false;
  }
})();

(straceWorks ? describe : describe.skip)('fsync accounting (strace)', () => {
  function syncCalls(file: string, mode: 'sequential' | 'concurrent', n: number): { syncs: number; out: string } {
    const trace = path.join(t.dir, `strace-${mode}.txt`);
    const out = execFileSync(
      'strace',
      ['-f', '-e', 'trace=fsync,fdatasync', '-o', trace, process.execPath, fsyncJs, file, MIGRATIONS, mode, String(n)],
      {
        env: childEnv(),
        encoding: 'utf8',
      },
    );
    const syncs = fs
      .readFileSync(trace, 'utf8')
      .split('\n')
      .filter((l) => /\b(fsync|fdatasync)\(/.test(l)).length;
    return { syncs, out };
  }

  test('sequential appends: at least one WAL sync per acknowledged append; concurrent ones share a sync', async () => {
    const file = path.join(t.dir, 'fsync.db');
    await new SqliteEventStore({ file, migrationsDir: MIGRATIONS }).close(); // migrations are not counted
    const n = 100;
    const seq = syncCalls(file, 'sequential', n);
    expect(seq.out).toContain(`appended ${n} in ${n} transactions`);
    expect(seq.syncs).toBeGreaterThanOrEqual(n);
    expect(seq.syncs).toBeLessThanOrEqual(n + 10); // plus the occasional checkpoint
    const conc = syncCalls(file, 'concurrent', n);
    expect(conc.out).toContain(`appended ${n} in 1 transactions`);
    expect(conc.syncs).toBeGreaterThanOrEqual(1);
    expect(conc.syncs).toBeLessThanOrEqual(4);
  }, 60_000);
});
