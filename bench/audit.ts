/**
 * The audit's costs (docs/audit.md): RFC 9162 proofs over a tree of 1,000,000 events; the
 * offline tools `cpreg audit export --db` and `cpreg audit verify` on a store of N events, each in
 * a fresh process (its own time and maxRSS), against a ceiling measured alongside on the same
 * bytes — a plain SHA-256 of the export file for verify, a bare scan of the same rows for export;
 * and appends with checkpointing on against off. Rounds interleaved (the machine is shared),
 * min / median / max. `npm run bench:build && node build/bench/audit.js`; results appended to
 * bench/RESULTS.md.
 */
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import Database from 'better-sqlite3';
import { AuditLog } from '../app/audit';
import { main as cpreg } from '../cli/cpreg';
import { canonicalEventText, chainHash, GENESIS_HASH } from '../storage/canonical';
import { generateSigningKey, signCheckpoint, signingKeyFromPem } from '../storage/audit/checkpoint';
import { leafHash, MerkleTree } from '../storage/audit/merkle';
import { SqliteEventStore } from '../storage/sqlite/sqlite-event-store';
import { appendResults } from './lib/machine';
import { fmt, median, spread } from './lib/stats';

const N = Number(process.env.AUDIT_BENCH_EVENTS ?? 1_000_000);
const ROUNDS = Number(process.env.AUDIT_BENCH_ROUNDS ?? 3);
const STREAMS = 1000;

/** One child measurement: what it did, its wall time and its peak RSS. */
interface Measured {
  ms: number;
  /** CPU time (user + system): what one core spent, whatever else the shared machine ran. */
  cpuMs: number;
  maxRssMiB: number;
}

/** `node build/bench/audit.js child <what> …`: one measurement in a process of its own. */
async function child(args: string[]): Promise<void> {
  const [what, ...rest] = args;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  if (what === 'sha256') {
    // the ceiling of verify: one SHA-256 over the export's bytes, read as verify reads them
    const fd = fs.openSync(rest[0]!, 'r');
    const buf = Buffer.allocUnsafe(4 << 20);
    const h = crypto.createHash('sha256');
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
    h.digest();
    fs.closeSync(fd);
  } else if (what === 'scan') {
    // the ceiling of export: the same rows read from SQLite, nothing made of them
    const db = new Database(rest[0]!, { readonly: true });
    let n = 0;
    for (const r of db
      .prepare(
        'SELECT position, stream_id, version, type, schema_version, data, metadata, hash FROM events ORDER BY position',
      )
      .raw(true)
      .iterate() as IterableIterator<unknown[]>)
      n += r.length;
    db.close();
    if (n === 0) throw new Error('no rows');
  } else {
    // the CLI itself: `cpreg audit export|verify …`
    const out = process.stdout.write.bind(process.stdout);
    process.stdout.write = () => true;
    const code = await cpreg(['audit', ...(what === 'export' ? ['export', '--db', ...rest] : ['verify', ...rest])], {});
    process.stdout.write = out;
    if (code !== 0) throw new Error(`cpreg audit ${what} exited ${code}`);
  }
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const cpuMs = (c.user + c.system) / 1000;
  process.stdout.write(JSON.stringify({ ms, cpuMs, maxRssMiB: process.resourceUsage().maxRSS / 1024 }) + '\n');
}

function measure(args: string[]): Measured {
  const r = spawnSync(process.execPath, [__filename, 'child', ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`child ${args[0]} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Measured;
}

/** A store of N events over STREAMS streams, written directly (the chain computed as an append would). */
function buildStore(file: string): { tree: MerkleTree; head: Buffer } {
  new SqliteEventStore({ file }).close().catch(() => undefined);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const tree = new MerkleTree();
  let prev: Buffer = GENESIS_HASH;
  const now = '2026-01-01T00:00:00.000Z';
  const insert = db.prepare(
    'INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const stream = db.prepare(
    "INSERT INTO streams (stream_id, version, created_at, updated_at, labels, kind) VALUES (?, ?, ?, ?, '{}', 'vcpu')",
  );
  db.transaction(() => {
    for (let s = 0; s < STREAMS; s++) stream.run(`vm${s}.cpu0`, Math.ceil((N - s) / STREAMS), now, now);
    for (let p = 1; p <= N; p++) {
      const s = (p - 1) % STREAMS;
      const f = {
        position: p,
        streamId: `vm${s}.cpu0`,
        version: Math.floor((p - 1) / STREAMS) + 1,
        type: 'RegistersWritten',
        schemaVersion: 1,
        dataText: `{"ids":["0x603000000013de82","0x603000000013de83"],"values":["0x${p.toString(16).padStart(16, '0')}","0x0000000000000001"]}`,
        metadataText: `{"actor":"bench","correlationId":"c-${p}","recordedAt":"${now}","requestId":"r-${p}"}`,
      };
      const text = canonicalEventText(f);
      prev = chainHash(prev, text);
      tree.appendLeafHash(leafHash(text));
      insert.run(p, f.streamId, f.version, f.type, f.schemaVersion, f.dataText, f.metadataText, prev);
    }
  })();
  db.close();
  return { tree, head: prev };
}

async function appendRate(withAudit: boolean, dir: string, n: number): Promise<number> {
  const file = path.join(dir, `append-${withAudit}-${Math.random().toString(36).slice(2)}.db`);
  const store = new SqliteEventStore({ file });
  const keyFile = path.join(dir, 'k.pem');
  if (!fs.existsSync(keyFile)) fs.writeFileSync(keyFile, generateSigningKey().privatePem);
  // the default configuration: a checkpoint every 1,000 events or 60 s
  const audit = withAudit ? new AuditLog(store, { signingKeyFile: keyFile }) : undefined;
  audit?.start();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await store.append({
      streamId: `s${i % 10}`,
      expectedVersion: 'any',
      events: [{ type: 'RegistersWritten', schemaVersion: 1, data: { ids: ['0x6030000000138012'], values: ['0x1'] } }],
      metadata: { actor: 'bench' },
    });
  }
  const rate = (n * 1000) / (performance.now() - t0);
  audit?.stop();
  await store.close();
  for (const f of [file, file + '-wal', file + '-shm']) fs.rmSync(f, { force: true });
  return rate;
}

async function run(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-audit-bench-'));
  const lines: string[] = [];
  try {
    const dbFile = path.join(dir, 'store.db');
    const t0 = performance.now();
    const { tree, head } = buildStore(dbFile);
    console.log(`built a store of ${N} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const inc: number[] = [];
    const con: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const size = N - Math.floor(Math.random() * 1000);
      let t = performance.now();
      tree.inclusionProof(Math.floor(Math.random() * size), size);
      tree.root(size);
      inc.push(performance.now() - t);
      t = performance.now();
      tree.consistencyProof(1 + Math.floor(Math.random() * (size - 1)), size);
      con.push(performance.now() - t);
    }
    lines.push(
      `inclusion proof + root at a tree size near ${fmt(N)}: median ${fmt(median(inc) * 1000)} µs; ` +
        `consistency proof: median ${fmt(median(con) * 1000)} µs (1,000 random each; target: milliseconds)`,
    );

    const key = signingKeyFromPem(generateSigningKey().privatePem);
    const pub = path.join(dir, 'k.pub');
    fs.writeFileSync(pub, key.published.publicKey);
    const cpFile = path.join(dir, 'cp.json');
    fs.writeFileSync(
      cpFile,
      JSON.stringify(
        signCheckpoint(
          {
            treeSize: N,
            rootHash: tree.root().toString('hex'),
            chainHead: head.toString('hex'),
            time: new Date().toISOString(),
          },
          key,
        ),
      ),
    );
    const exportFile = path.join(dir, 'export.jsonl');
    const rounds: Record<'scan' | 'export' | 'sha256' | 'verify', Measured[]> = {
      scan: [],
      export: [],
      sha256: [],
      verify: [],
    };
    for (let r = 0; r < ROUNDS; r++) {
      rounds.scan.push(measure(['scan', dbFile]));
      fs.rmSync(exportFile, { force: true });
      rounds.export.push(measure(['export', dbFile, '--out', exportFile]));
      rounds.sha256.push(measure(['sha256', exportFile]));
      rounds.verify.push(measure(['verify', exportFile, '--key', pub, '--checkpoint', cpFile]));
      console.log(
        `round ${r + 1}: ${JSON.stringify(Object.fromEntries(Object.entries(rounds).map(([k, v]) => [k, v.at(-1)])))}`,
      );
    }
    const mib = fs.statSync(exportFile).size / 2 ** 20;
    const rate = (m: Measured) => (N * 1000) / m.ms;
    const cpuRate = (m: Measured) => (N * 1000) / m.cpuMs;
    const ratios = (a: Measured[], b: Measured[]) => a.map((m, i) => b[i]!.cpuMs / m.cpuMs);
    const verdict = (xs: number[]) => (median(xs) >= 100_000 ? 'met' : 'NOT met');
    const verifyCpu = rounds.verify.map(cpuRate);
    const exportCpu = rounds.export.map(cpuRate);
    lines.push(
      `\`cpreg audit verify\` (chain, tree, signature; a fresh process, start-up included) of the ${fmt(N)}-event export ` +
        `(${fmt(mib)} MiB): per CPU-second (one core) ${spread(verifyCpu, 0, '/s')}; target ≥ 100,000/s: ${verdict(verifyCpu)}; ` +
        `per wall-second ${spread(rounds.verify.map(rate), 0, '/s')}`,
    );
    lines.push(
      `  ceiling: a plain SHA-256 of the same file (same 4 MiB reads), ${spread(rounds.sha256.map(cpuRate), 0, '/s')} lines per CPU-second; ` +
        `verify / sha256 (CPU time, same round): ${spread(ratios(rounds.verify, rounds.sha256))} — verify hashes every byte twice (chain and leaf) plus a Merkle node per event`,
    );
    lines.push(
      `  maxRSS: verify ${spread(
        rounds.verify.map((m) => m.maxRssMiB),
        0,
        ' MiB',
      )}, the sha256 process ` +
        `${spread(
          rounds.sha256.map((m) => m.maxRssMiB),
          0,
          ' MiB',
        )} (both the bench's modules loaded): flat, nothing grows with the log`,
    );
    lines.push(
      `\`cpreg audit export --db\` of the same ${fmt(N)} events: per CPU-second ${spread(exportCpu, 0, '/s')}; ` +
        `target ≥ 100,000/s: ${verdict(exportCpu)}; per wall-second ${spread(rounds.export.map(rate), 0, '/s')}; ` +
        `export / a bare scan of the same rows (CPU time): ${spread(ratios(rounds.export, rounds.scan))}; ` +
        `maxRSS ${spread(
          rounds.export.map((m) => m.maxRssMiB),
          0,
          ' MiB',
        )}`,
    );

    // appends, checkpointing off and on, interleaved
    const n = Number(process.env.AUDIT_BENCH_APPENDS ?? 1500);
    const off: number[] = [];
    const on: number[] = [];
    for (let r = 0; r < Number(process.env.AUDIT_BENCH_APPEND_ROUNDS ?? 8); r++) {
      // which goes first alternates: a slow moment of the shared disk does not favour one side
      if (r % 2 === 0) {
        off.push(await appendRate(false, dir, n));
        on.push(await appendRate(true, dir, n));
      } else {
        on.push(await appendRate(true, dir, n));
        off.push(await appendRate(false, dir, n));
      }
    }
    const rel = on.map((x, i) => x / off[i]!);
    lines.push(
      `sequential durable appends (each awaited, ${fmt(n)} per round): checkpointing off ${spread(off, 0, '/s')}, ` +
        `on (default: every 1,000 events or 60 s; the tree caught up every 100 ms) ${spread(on, 0, '/s')}; ` +
        `ratio on / off within a round: ${spread(rel)}; target ≥ 0.90: ${median(rel) >= 0.9 ? 'met' : 'NOT met'}`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const l of lines) console.log(l);
  appendResults('audit (bench/audit.ts)', lines);
}

if (process.argv[2] === 'child') void child(process.argv.slice(3));
else void run();
