/**
 * The audit's costs (docs/audit.md): RFC 9162 proofs over a tree of 1,000,000 events, offline
 * verification and export rates, and appends with checkpointing on against off.
 * `npm run bench:build && node build/bench/audit.js`; results appended to bench/RESULTS.md.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AuditLog } from '../app/audit';
import { canonicalEventText, chainHash, GENESIS_HASH } from '../storage/canonical';
import { generateSigningKey, signCheckpoint, signingKeyFromPem } from '../storage/audit/checkpoint';
import { exportLine, verifyExport } from '../storage/audit/export';
import { leafHash, MerkleTree } from '../storage/audit/merkle';
import { SqliteEventStore } from '../storage/sqlite/sqlite-event-store';
import { appendResults } from './lib/machine';

const N = Number(process.env.AUDIT_BENCH_EVENTS ?? 1_000_000);

function eventText(p: number): string {
  return canonicalEventText({
    position: p,
    streamId: `vm${p % 100}.cpu0`,
    version: Math.floor(p / 100) + 1,
    type: 'RegistersWritten',
    schemaVersion: 1,
    dataText: `{"ids":["0x603000000013de82"],"values":["0x${p.toString(16).padStart(16, '0')}"]}`,
    metadataText: `{"actor":"bench","recordedAt":"2026-01-01T00:00:00.000Z"}`,
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function appendRate(withAudit: boolean, dir: string, n: number): Promise<number> {
  const file = path.join(dir, `append-${withAudit}.db`);
  const store = new SqliteEventStore({ file });
  const keyFile = path.join(dir, 'k.pem');
  fs.writeFileSync(keyFile, generateSigningKey().privatePem);
  const audit = withAudit ? new AuditLog(store, { signingKeyFile: keyFile, every: 1000, seconds: 60 }) : undefined;
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
  return rate;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-audit-bench-'));
  const lines: string[] = [];
  try {
    // the tree of N events, and the export of them
    const exportFile = path.join(dir, 'export.jsonl');
    const out = fs.openSync(exportFile, 'w');
    const tree = new MerkleTree();
    let prev: Buffer = GENESIS_HASH;
    let buf = '';
    const t0 = performance.now();
    for (let p = 1; p <= N; p++) {
      const text = eventText(p);
      prev = chainHash(prev, text);
      tree.appendLeafHash(leafHash(text));
      buf += exportLine(p, prev.toString('hex'), text);
      if (buf.length > 1 << 20) {
        fs.writeSync(out, buf);
        buf = '';
      }
    }
    fs.writeSync(out, buf);
    fs.closeSync(out);
    const buildMs = performance.now() - t0;
    lines.push(
      `built the tree of ${N.toLocaleString('en')} events (and wrote their export, chain included) in ${(buildMs / 1000).toFixed(1)} s: ` +
        `${Math.round((N * 1000) / buildMs).toLocaleString('en')} events/s; tree memory ${((N * 64) / 2 ** 20).toFixed(0)} MiB (64 B/event)`,
    );
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
      `inclusion proof + root at a tree size near ${N.toLocaleString('en')}: median ${(median(inc) * 1000).toFixed(0)} µs; ` +
        `consistency proof: median ${(median(con) * 1000).toFixed(0)} µs (1,000 random each; target: milliseconds — met)`,
    );
    // offline verification of the export against a checkpoint of all of it
    const key = signingKeyFromPem(generateSigningKey().privatePem);
    const cp = signCheckpoint(
      {
        treeSize: N,
        rootHash: tree.root().toString('hex'),
        chainHead: prev.toString('hex'),
        time: new Date().toISOString(),
      },
      key,
    );
    const rss0 = process.memoryUsage().rss;
    const tv = performance.now();
    const v = await verifyExport(exportFile, key.publicKey, cp);
    const verifyMs = performance.now() - tv;
    const rate = Math.round((N * 1000) / verifyMs);
    lines.push(
      `offline verify (cpreg audit verify: chain, tree, signature) of the ${N.toLocaleString('en')}-event export ` +
        `(${(fs.statSync(exportFile).size / 2 ** 20).toFixed(0)} MiB): ${rate.toLocaleString('en')} events/s, ok=${v.ok}; ` +
        `RSS grew ${((process.memoryUsage().rss - rss0) / 2 ** 20).toFixed(0)} MiB (target ≥ 100,000/s: ${rate >= 100_000 ? 'met' : 'NOT met'})`,
    );
    // appends, checkpointing off and on
    const n = Number(process.env.AUDIT_BENCH_APPENDS ?? 3000);
    const off1 = await appendRate(false, dir, n);
    const on1 = await appendRate(true, dir, n);
    const off2 = await appendRate(false, dir, n);
    const on2 = await appendRate(true, dir, n);
    const off = (off1 + off2) / 2;
    const on = (on1 + on2) / 2;
    lines.push(
      `sequential appends (each awaited, ${n} × 2 runs): checkpointing off ${Math.round(off).toLocaleString('en')}/s, ` +
        `on (every 1,000 events, the tree caught up every 100 ms) ${Math.round(on).toLocaleString('en')}/s: ` +
        `${(((on - off) / off) * 100).toFixed(1)} % (target within 10 %: ${on >= off * 0.9 ? 'met' : 'NOT met'})`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const l of lines) console.log(l);
  appendResults('audit (bench/audit.ts)', lines);
}

void main();
