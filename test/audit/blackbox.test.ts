/**
 * Issue 14 judged from outside: the built server with a signing key, a history written by the
 * `cpreg` CLI (QEMU stream imports, KVM vCPUs, register writes, syncs, loads, host profiles,
 * labels), a checkpoint taken, then the database tampered with through SQLite the way someone
 * with write access would (with and without recomputing the chain, by this file's own hashing),
 * each copy exported with `cpreg audit export --db` and checked with `cpreg audit verify`.
 * Proofs are checked by this file's own RFC 9162 verifier; `cpreg audit replay` against the
 * service's answers at the same version. Nothing here uses storage/ or the domain: only the
 * processes, their files and their HTTP answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import Database from 'better-sqlite3';
import { buildServer, ROOT, startBuilt } from '../helpers/built-server';
import type { SpawnedServer } from '../../bench/lib/http-server';

let tmp = '';
let cliEntry = '';
let entry = '';
const children = new Set<ChildProcess>();
let server: SpawnedServer | undefined;
let url = '';

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** The built CLI in a child process (never in this one: exit codes and stdout are what is judged). */
function cpreg(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliEntry, ...args], {
      env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules'), CPREG_URL: url, CPREG_TOKEN: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
  });
}

async function ok(args: string[]): Promise<string> {
  const r = await cpreg(args);
  if (r.code !== 0) throw new Error(`cpreg ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  return r.stdout.toString();
}

async function http(method: string, p: string): Promise<{ status: number; text: string }> {
  const res = await fetch(new URL(p, url), { method });
  return { status: res.status, text: await res.text() };
}

async function getJson<T = unknown>(p: string): Promise<T> {
  const r = await http('GET', p);
  if (r.status !== 200) throw new Error(`GET ${p}: ${r.status} ${r.text.slice(0, 300)}`);
  return JSON.parse(r.text) as T;
}

// --- RFC 9162 §2.1, written here from the RFC's text, independent of storage/audit/merkle.ts ---

const sha = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const leafOf = (bytes: Uint8Array) => sha(Buffer.from([0]), bytes);
const nodeOf = (l: Uint8Array, r: Uint8Array) => sha(Buffer.from([1]), l, r);

/** MTH(D[n]) by the definition: k the largest power of two below n. */
function mth(leaves: Buffer[], lo = 0, hi = leaves.length): Buffer {
  const n = hi - lo;
  if (n === 0) return sha();
  if (n === 1) return leaves[lo]!;
  let k = 1;
  while (k * 2 < n) k *= 2;
  return nodeOf(mth(leaves, lo, lo + k), mth(leaves, lo + k, hi));
}

/** §2.1.3.2: verifying an inclusion proof. */
function rfcVerifyInclusion(leafIndex: number, treeSize: number, leaf: Buffer, proof: Buffer[], root: Buffer): boolean {
  if (leafIndex >= treeSize) return false;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeOf(p, r);
      if (fn % 2 === 0)
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
    } else r = nodeOf(r, p);
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

/** §2.1.4.2: verifying a consistency proof. */
function rfcVerifyConsistency(
  first: number,
  second: number,
  firstHash: Buffer,
  secondHash: Buffer,
  path0: Buffer[],
): boolean {
  if (first === second) return path0.length === 0 && firstHash.equals(secondHash);
  if (first > second || first === 0 || path0.length === 0) return false;
  const isPow2 = (x: number) => (x & (x - 1)) === 0;
  const pathHashes = isPow2(first) ? [firstHash, ...path0] : path0;
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = pathHashes[0]!;
  let sr = pathHashes[0]!;
  for (const c of pathHashes.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeOf(c, fr);
      sr = nodeOf(c, sr);
      if (fn % 2 === 0)
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
    } else sr = nodeOf(sr, c);
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return fr.equals(firstHash) && sr.equals(secondHash) && sn === 0;
}

// --- the chain as the stores compute it (storage/canonical.ts, read and redone here) ---

interface Row {
  position: number;
  stream_id: string;
  version: number;
  type: string;
  schema_version: number;
  data: string;
  metadata: string;
  hash: Buffer;
}

function canonicalBytes(e: Row): string {
  return (
    `{"data":${e.data},"metadata":${e.metadata},"position":${e.position},"schemaVersion":${e.schema_version},` +
    `"streamId":${JSON.stringify(e.stream_id)},"type":${JSON.stringify(e.type)},"version":${e.version}}`
  );
}

const rowsOf = (db: Database.Database) =>
  db
    .prepare(
      'SELECT position, stream_id, version, type, schema_version, data, metadata, hash FROM events ORDER BY position',
    )
    .all() as Row[];

/**
 * Writes `rows` back as the whole log: positions 1..n in array order and, when `recompute`,
 * every stream's versions renumbered 1..k and every hash from `from` on recomputed (an attacker
 * covering their tracks). Without it the rows keep the positions, versions and hashes they carry.
 */
function rewriteLog(db: Database.Database, rows: Row[], o: { recompute: boolean; from?: number }): void {
  const versions = new Map<string, number>();
  let prev: Buffer = Buffer.alloc(32);
  const out = rows.map((r, i) => {
    const e = { ...r };
    if (o.recompute) {
      e.position = i + 1;
      const v = (versions.get(e.stream_id) ?? 0) + 1;
      versions.set(e.stream_id, v);
      e.version = v;
      if (e.position >= (o.from ?? 1)) e.hash = sha(prev, Buffer.from(canonicalBytes(e), 'utf8'));
    }
    prev = e.hash;
    return e;
  });
  db.transaction(() => {
    db.prepare('DELETE FROM events').run();
    const ins = db.prepare(
      'INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, hash) ' +
        'VALUES (@position, @stream_id, @version, @type, @schema_version, @data, @metadata, @hash)',
    );
    for (const e of out) ins.run(e);
    db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'events'").run(out.at(-1)!.position);
    for (const [s, v] of versions) db.prepare('UPDATE streams SET version = ? WHERE stream_id = ?').run(v, s);
  })();
}

interface Checkpoint {
  treeSize: number;
  rootHash: string;
  chainHead: string;
  time: string;
  keyId: string;
  signature: string;
}

let keyPub = '';
let cpFile = '';
let cp: Checkpoint;
let baseDb = '';
let oldCopy = '';
let oldSize = 0;
let liveDb = '';
/** Every checkpoint the log holds (its own, signed every 10 events and on demand). */
let checkpointSizes: number[] = [];
/** The checkpoints the older copy holds (all signed before the auditor's). */
let oldCheckpointSizes: number[] = [];
const checkpointsIn = (db: Database.Database) =>
  (
    db
      .prepare("SELECT data FROM events WHERE stream_id = '$audit' AND type = 'CheckpointSigned'")
      .pluck()
      .all() as string[]
  ).map((d) => (JSON.parse(d) as { treeSize: number }).treeSize);
/** The service's answers captured while it ran: per vCPU and version, the state and the arrays. */
const answers = new Map<string, { state: string; arrays: string; recordedAt?: string }>();
/** Blobs the service exported, with the version they were exported at. */
const blobs: Array<{ cpu: string; version: number; format: string; file: string }> = [];
let urlExport = '';
let finalSize = 0;

const fixture = (name: string) => {
  const f = path.join(tmp, `${name}.mig`);
  fs.writeFileSync(f, zlib.gunzipSync(fs.readFileSync(path.join(ROOT, 'test/fixtures/qemu', `${name}.mig.gz`))));
  return f;
};

const KVM_LIST = [
  '0x6030000000100000',
  '0x6080000000150000',
  '0x603000000013c080',
  '0x603000000013de82',
  '0x603000000013df1a',
  '0x6020000000110000',
  '0x6030000000140000',
  '0x6080000000140100',
];

async function versionOf(cpu: string): Promise<number> {
  return (await getJson<{ version: number }>(`/v1/cpus/${cpu}`)).version;
}

async function startOn(db: string): Promise<void> {
  server = await startBuilt(
    entry,
    {
      CPREG_DB: db,
      CPREG_SIGNING_KEY_FILE: path.join(tmp, 'signing.pem'),
      CPREG_CHECKPOINT_EVERY: '10',
      CPREG_CHECKPOINT_SECONDS: '3600',
      CPREG_SNAPSHOT_EVERY: '3',
    },
    children,
  );
  url = `http://127.0.0.1:${server.port}`;
}

async function stop(): Promise<void> {
  if (!server) return;
  const s = server;
  server = undefined;
  s.child.kill('SIGTERM');
  await s.exited;
}

/** A consistent single-file copy of a database (its WAL included). */
async function copyDb(from: string, to: string): Promise<void> {
  const db = new Database(from, { readonly: true, fileMustExist: true });
  try {
    await db.backup(to);
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-audit-bb-'));
  const out = path.join(tmp, 'out');
  entry = buildServer(out);
  cliEntry = path.join(out, 'cpreg-bin.js');
  fs.writeFileSync(
    cliEntry,
    "require('./cli/cpreg.js').main(process.argv.slice(2)).then((c) => { process.exitCode = c; });\n",
  );
  await ok(['keygen', '--out', path.join(tmp, 'signing.pem')]);
  keyPub = path.join(tmp, 'signing.pem.pub');
  liveDb = path.join(tmp, 'live.db');
  await startOn(liveDb);

  // a history: two imported VMs (one with two vCPUs), a KVM vCPU, writes, syncs, loads, exports
  await ok(['import', fixture('aarch64-max-smp2'), '--vm', 'vma', '--label', 'rack=r1', '--label', 'env=prod']);
  await ok(['import', fixture('q10-aarch64-cortex-a76-smp2'), '--vm', 'vmb', '--label', 'rack=r2']);
  await ok([
    'create',
    'vmk.cpu0',
    '--accelerator',
    'kvm',
    '--label',
    'vm=vmk',
    ...KVM_LIST.flatMap((id) => ['--register', id]),
  ]);
  await ok([
    'profile',
    'put',
    'host-a57',
    '--from',
    fixture('aarch64-cortex-a57'),
    '--qemu',
    '7.2',
    '--label',
    'dc=east',
  ]);
  for (let i = 1; i <= 24; i++) {
    const cpu = ['vma.cpu0', 'vma.cpu1', 'vmb.cpu0', 'vmb.cpu1'][i % 4]!;
    if (i % 5 === 0)
      await ok(['set', cpu, `TPIDR_EL0=0x${(0xa000 + i).toString(16)}`, `TPIDRRO_EL0=0x${i.toString(16)}`]);
    else await ok(['set', cpu, `TPIDR_EL0=0x${(0xb000 + i).toString(16)}`]);
    if (i === 10) {
      // an older copy of the store, as a backup would have it
      oldCopy = path.join(tmp, 'old.db');
      await copyDb(liveDb, oldCopy);
      const old = new Database(oldCopy, { readonly: true });
      oldSize = old.prepare('SELECT max(position) FROM events').pluck().get() as number;
      oldCheckpointSizes = checkpointsIn(old);
      old.close();
    }
  }
  await ok(['set', 'vmk.cpu0', 'TPIDR_EL0=0x0000ffff8000a000', 'SCTLR_EL1=0x30d00800']);
  await ok(['sync', 'vmk.cpu0', 'from-accelerator', 'TIMER_CNT=0x5f5e100', '--failed', 'PSCI_VERSION']);
  await ok(['sync', 'vmk.cpu0', 'to-accelerator', '--level', 'runtime']);
  for (const [cpu, format] of [
    ['vma.cpu0', 'v22'],
    ['vmb.cpu1', 'v23'],
    ['vmk.cpu0', 'v23'],
  ] as const) {
    const version = await versionOf(cpu);
    const file = path.join(tmp, `${cpu}.${format}.bin`);
    await ok(['export', cpu, '--format', format, '-o', file]);
    blobs.push({ cpu, version, format, file });
  }
  await ok(['load', 'vma.cpu1', blobs[0]!.file, '--format', 'v22']);
  await ok([
    'profile',
    'put',
    'host-a57',
    '--from',
    fixture('aarch64-cortex-a72'),
    '--qemu',
    '7.2',
    '--cpu-model',
    'cortex-a72',
    '--label',
    'dc=west',
  ]);

  // the auditor's checkpoint, kept where the database's writers are not
  const posted = await http('POST', '/v1/audit/checkpoints');
  expect(posted.status).toBe(201);
  cp = JSON.parse(posted.text) as Checkpoint;
  cpFile = path.join(tmp, 'cp.json');
  fs.writeFileSync(cpFile, JSON.stringify(cp));

  // the log goes on after it
  for (let i = 0; i < 6; i++)
    await ok(['set', i % 2 ? 'vma.cpu1' : 'vmk.cpu0', `TPIDR_EL0=0x${(0xc000 + i).toString(16)}`]);

  // the service's answers at every version of every vCPU (for replay)
  for (const cpu of ['vma.cpu0', 'vma.cpu1', 'vmb.cpu0', 'vmb.cpu1', 'vmk.cpu0']) {
    const head = await versionOf(cpu);
    const history = await getJson<{ events: Array<{ version: number; metadata: { recordedAt?: string } }> }>(
      `/v1/cpus/${cpu}/events?limit=1000`,
    );
    const at = new Map(history.events.map((e) => [e.version, e.metadata.recordedAt]));
    for (let v = 1; v <= head; v++) {
      const state = await http('GET', `/v1/cpus/${cpu}?version=${v}`);
      const arrays = await http('GET', `/v1/cpus/${cpu}/arrays?version=${v}`);
      expect([state.status, arrays.status]).toEqual([200, 200]);
      const recordedAt = at.get(v);
      answers.set(`${cpu}@${v}`, { state: state.text, arrays: arrays.text, ...(recordedAt ? { recordedAt } : {}) });
    }
  }

  urlExport = path.join(tmp, 'url.jsonl');
  expect(await ok(['audit', 'export', '--out', urlExport])).toMatch(/events written/);
  await stop();
  baseDb = path.join(tmp, 'base.db');
  await copyDb(liveDb, baseDb);
  const db = new Database(baseDb, { readonly: true });
  finalSize = db.prepare('SELECT max(position) FROM events').pluck().get() as number;
  checkpointSizes = checkpointsIn(db);
  db.close();
}, 600_000);

afterAll(async () => {
  await stop();
  for (const c of children) c.kill('SIGKILL');
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Exports a database with the CLI and verifies it against the auditor's checkpoint. */
async function exportAndVerify(db: string, name: string): Promise<{ export: Run; verify: Run; file: string }> {
  const file = path.join(tmp, `${name}.jsonl`);
  const exp = await cpreg(['audit', 'export', '--db', db, '--out', file]);
  const verify = await cpreg(['audit', 'verify', file, '--key', keyPub, '--checkpoint', cpFile]);
  return { export: exp, verify, file };
}

function firstBad(r: Run): number {
  expect(r.code).toBe(1);
  expect(r.stdout.toString()).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  const m = /^cpreg: audit: first bad position (\d+): /.exec(lines[0]!);
  if (!m) throw new Error(`no first bad position in: ${r.stderr}`);
  return Number(m[1]);
}

/** The last checkpoint the log holds below `p`, plus one: where a recomputed chain is placed. */
const anchoredAfter = (p: number) => Math.max(0, ...checkpointSizes.filter((s) => s < p)) + 1;

/** A copy of the untouched store, changed by `fn`. */
function tampered(name: string, fn: (db: Database.Database) => void): string {
  const file = path.join(tmp, `${name}.db`);
  fs.copyFileSync(baseDb, file);
  const db = new Database(file);
  try {
    fn(db);
  } finally {
    db.close();
  }
  return file;
}

/** `data` with one hex digit of its first 0x… value changed (or a field added when it has none). */
function forge(data: string): string {
  const m = /0x([0-9a-f])/.exec(data);
  const out = m
    ? data.slice(0, m.index + 2) + (m[1] === 'f' ? 'e' : 'f') + data.slice(m.index + 3)
    : data.replace(/}$/, ',"x":1}');
  expect(out).not.toBe(data);
  return out;
}

/** A RegistersSet (or other vCPU) event well inside the checkpoint, of a stream with later events. */
function victim(rows: Row[], near: number): Row {
  const r = rows.find((e) => e.position >= near && e.stream_id.startsWith('vm') && e.type !== 'VcpuCreated');
  if (!r) throw new Error('no event to tamper with');
  return r;
}

describe('the history', () => {
  test('it is realistic: imports, KVM, syncs, loads, exports, profiles, labels and checkpoints', () => {
    const db = new Database(baseDb, { readonly: true });
    const types = new Set(db.prepare('SELECT DISTINCT type FROM events').pluck().all() as string[]);
    db.close();
    expect(types.size).toBeGreaterThanOrEqual(8);
    expect([...types]).toEqual(expect.arrayContaining(['VcpuCreated', 'CheckpointSigned', 'SigningKeyPublished']));
    expect(checkpointSizes.length).toBeGreaterThanOrEqual(3);
    expect(cp.treeSize).toBeGreaterThan(40);
    expect(finalSize).toBeGreaterThan(cp.treeSize);
    expect(oldSize).toBeGreaterThan(5);
    expect(oldSize).toBeLessThan(cp.treeSize);
  });
});

describe('cpreg audit verify against a checkpoint taken before', () => {
  test('the untouched store passes, and its --db export equals the --url export byte for byte', async () => {
    const r = await exportAndVerify(baseDb, 'untouched');
    expect(r.export.code).toBe(0);
    expect(r.verify.stderr).toBe('');
    expect(r.verify.code).toBe(0);
    expect(r.verify.stdout.toString()).toMatch(new RegExp(`^intact: ${finalSize} events; the first ${cp.treeSize} `));
    expect(fs.readFileSync(r.file).equals(fs.readFileSync(urlExport))).toBe(true);
    const viaUrl = await cpreg(['audit', 'verify', urlExport, '--key', keyPub, '--checkpoint', cpFile]);
    expect(viaUrl.code).toBe(0);
    // a resumed export (cut mid-line) ends with the same bytes
    const cut = path.join(tmp, 'cut.jsonl');
    const whole = fs.readFileSync(r.file);
    fs.writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    expect((await cpreg(['audit', 'export', '--db', baseDb, '--out', cut])).code).toBe(0);
    expect(fs.readFileSync(cut).equals(whole)).toBe(true);
  });

  const cases: Array<{ name: string; make: () => { db: string; expected: number } }> = [
    {
      name: "an event's data edited",
      make: () => {
        let expected = 0;
        const db = tampered('edit', (d) => {
          const v = victim(rowsOf(d), Math.floor(cp.treeSize / 2));
          expected = v.position;
          d.prepare('UPDATE events SET data = ? WHERE position = ?').run(forge(v.data), v.position);
        });
        return { db, expected };
      },
    },
    {
      name: "an event's data edited and every hash after it recomputed",
      make: () => {
        let expected = 0;
        const db = tampered('edit-rechained', (d) => {
          const rows = rowsOf(d);
          const v = victim(rows, Math.floor(cp.treeSize / 2));
          v.data = forge(v.data);
          expected = anchoredAfter(v.position);
          rewriteLog(d, rows, { recompute: true, from: v.position });
        });
        return { db, expected };
      },
    },
    {
      name: 'an event deleted',
      make: () => {
        let expected = 0;
        const db = tampered('delete', (d) => {
          expected = victim(rowsOf(d), Math.floor(cp.treeSize / 3)).position;
          d.prepare('DELETE FROM events WHERE position = ?').run(expected);
        });
        return { db, expected };
      },
    },
    {
      name: 'an event deleted, the positions closed up, versions and hashes recomputed',
      make: () => {
        let expected = 0;
        const db = tampered('delete-rechained', (d) => {
          const rows = rowsOf(d);
          const v = victim(rows, Math.floor(cp.treeSize / 3));
          expected = anchoredAfter(v.position);
          rewriteLog(
            d,
            rows.filter((e) => e !== v),
            { recompute: true, from: v.position },
          );
        });
        return { db, expected };
      },
    },
    {
      name: 'an event inserted (the later ones moved up, their hashes left)',
      make: () => {
        let expected = 0;
        const db = tampered('insert', (d) => {
          const rows = rowsOf(d);
          const v = victim(rows, Math.floor(cp.treeSize / 2));
          expected = v.position;
          const forged = { ...v, data: forge(v.data), hash: Buffer.alloc(32, 7) };
          const i = rows.indexOf(v);
          const out = [...rows.slice(0, i), forged, ...rows.slice(i)].map((e, k) => ({ ...e, position: k + 1 }));
          // versions of that stream after it move up by one, so the UNIQUE index still holds
          let bump = false;
          for (const e of out) {
            if (e === out[i]) bump = true;
            else if (bump && e.stream_id === v.stream_id) e.version++;
          }
          rewriteLog(d, out, { recompute: false });
        });
        return { db, expected };
      },
    },
    {
      name: 'an event inserted with its own hash chained, the later ones moved up with theirs',
      make: () => {
        let expected = 0;
        const db = tampered('insert-own-hash', (d) => {
          const rows = rowsOf(d);
          const v = victim(rows, Math.floor(cp.treeSize / 2));
          expected = v.position;
          const i = rows.indexOf(v);
          const forged = { ...v, data: forge(v.data) };
          forged.hash = sha(rows[i - 1]!.hash, Buffer.from(canonicalBytes(forged), 'utf8'));
          const out = [...rows.slice(0, i), forged, ...rows.slice(i)].map((e, k) => ({ ...e, position: k + 1 }));
          for (const e of out.slice(i + 1)) if (e.stream_id === v.stream_id) e.version++;
          rewriteLog(d, out, { recompute: false });
        });
        return { db, expected };
      },
    },
    {
      name: 'an event inserted, positions, versions and every hash after it recomputed',
      make: () => {
        let expected = 0;
        const db = tampered('insert-rechained', (d) => {
          const rows = rowsOf(d);
          const v = victim(rows, Math.floor(cp.treeSize / 2));
          const i = rows.indexOf(v);
          expected = anchoredAfter(v.position);
          const forged = { ...v, data: forge(v.data) };
          rewriteLog(d, [...rows.slice(0, i), forged, ...rows.slice(i)], { recompute: true, from: v.position });
        });
        return { db, expected };
      },
    },
    {
      name: 'two events swapped',
      make: () => {
        let expected = 0;
        const db = tampered('swap', (d) => {
          const rows = rowsOf(d);
          const i = rows.findIndex(
            (e, k) => k > rows.length / 3 && rows[k + 1] && rows[k + 1]!.stream_id !== e.stream_id,
          );
          const [a, b] = [rows[i]!, rows[i + 1]!];
          expected = a.position;
          rows[i] = { ...b, position: a.position };
          rows[i + 1] = { ...a, position: b.position };
          rewriteLog(d, rows, { recompute: false });
        });
        return { db, expected };
      },
    },
    {
      name: 'two events swapped, the chain recomputed',
      make: () => {
        let expected = 0;
        const db = tampered('swap-rechained', (d) => {
          const rows = rowsOf(d);
          const i = rows.findIndex(
            (e, k) => k > rows.length / 3 && rows[k + 1] && rows[k + 1]!.stream_id !== e.stream_id,
          );
          expected = anchoredAfter(rows[i]!.position);
          [rows[i], rows[i + 1]] = [rows[i + 1]!, rows[i]!];
          rewriteLog(d, rows, { recompute: true, from: i + 1 });
        });
        return { db, expected };
      },
    },
    {
      name: 'the tail truncated behind the checkpoint (sqlite_sequence lowered too)',
      make: () => {
        const keep = cp.treeSize - 7;
        const db = tampered('truncate', (d) => {
          d.prepare('DELETE FROM events WHERE position > ?').run(keep);
          d.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'events'").run(keep);
        });
        return { db, expected: keep + 1 };
      },
    },
    {
      name: 'a row slipped in before position 1 (invisible to a feed that starts after 0)',
      make: () => {
        const db = tampered('position-zero', (d) => {
          const rows = rowsOf(d);
          const last = rows.filter((e) => e.stream_id === 'vma.cpu0').at(-1)!;
          // the vCPU's next version: reads would serve it
          d.prepare(
            'INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, hash) VALUES (0, ?, ?, ?, ?, ?, ?, ?)',
          ).run(last.stream_id, last.version + 1, last.type, last.schema_version, last.data, last.metadata, last.hash);
        });
        return { db, expected: 1 };
      },
    },
    {
      name: 'a restore from an older copy',
      make: () => ({ db: oldCopy, expected: oldSize + 1 }),
    },
  ];

  test.each(cases.map((c) => [c.name, c] as const))('%s: exit 1, naming the first bad position', async (name, c) => {
    const { db, expected } = c.make();
    const r = await exportAndVerify(db, name.replace(/\W+/g, '-'));
    expect(r.export.code).toBe(0);
    expect(firstBad(r.verify)).toBe(expected);
  });

  test('a restore from an older copy, then the service writing on past the checkpoint: exit 1', async () => {
    const forked = path.join(tmp, 'forked.db');
    fs.copyFileSync(oldCopy, forked);
    await startOn(forked);
    try {
      for (
        let i = 0;
        (await getJson<{ events: unknown[] }>(`/v1/events?after=${cp.treeSize}&limit=1`)).events.length === 0;
        i++
      )
        await ok(['set', 'vma.cpu0', `TPIDR_EL0=0x${(0xd000 + i).toString(16)}`]);
      const viaUrl = path.join(tmp, 'forked-url.jsonl');
      expect((await cpreg(['audit', 'export', '--out', viaUrl])).code).toBe(0);
      const r = await cpreg(['audit', 'verify', viaUrl, '--key', keyPub, '--checkpoint', cpFile]);
      // the forked log's own checkpoints (signed after the auditor's) are no anchors
      expect(firstBad(r)).toBe(Math.max(0, ...oldCheckpointSizes) + 1);
    } finally {
      await stop();
    }
  });
});

describe('proofs from the service, checked by an RFC 9162 verifier of its own', () => {
  let leaves: Buffer[] = [];
  beforeAll(async () => {
    // the leaves from the export's bytes (after "event": up to the line's last "}")
    leaves = fs
      .readFileSync(urlExport, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => leafOf(Buffer.from(l.slice(l.indexOf(',"event":') + 9, -1), 'utf8')));
    await startOn(liveDb);
  });
  afterAll(stop);

  test("the checkpoint's root is MTH of the first treeSize leaves", () => {
    expect(mth(leaves.slice(0, cp.treeSize)).toString('hex')).toBe(cp.rootHash);
  });

  test('inclusion for every position at sizes 1, powers of two, the checkpoint, the head and others', async () => {
    const n = leaves.length;
    const sizes = [
      ...new Set([1, 2, 3, 4, 5, 7, 8, 16, 31, 32, 33, 64, cp.treeSize, n - 1, n].filter((s) => s >= 1 && s <= n)),
    ];
    let checked = 0;
    for (const size of sizes) {
      const root = mth(leaves.slice(0, size));
      const positions = size <= 40 ? Array.from({ length: size }, (_, i) => i + 1) : [1, 2, size >> 1, size - 1, size];
      for (const p of positions) {
        const r = await getJson<{
          leafIndex: number;
          treeSize: number;
          leafHash: string;
          rootHash: string;
          proof: string[];
        }>(`/v1/audit/proofs/inclusion?position=${p}&treeSize=${size}`);
        expect([r.leafIndex, r.treeSize, r.leafHash, r.rootHash]).toEqual([
          p - 1,
          size,
          leaves[p - 1]!.toString('hex'),
          root.toString('hex'),
        ]);
        const proof = r.proof.map((h) => Buffer.from(h, 'hex'));
        expect(rfcVerifyInclusion(p - 1, size, leaves[p - 1]!, proof, root)).toBe(true);
        // and the verifier is not a yes-machine
        expect(rfcVerifyInclusion(p - 1, size, leafOf(Buffer.from('x')), proof, root)).toBe(false);
        if (size > 1) expect(rfcVerifyInclusion(p % size, size, leaves[p - 1]!, proof, root)).toBe(false);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(150);
    expect((await http('GET', `/v1/audit/proofs/inclusion?position=${n + 1}&treeSize=${n}`)).status).toBe(400);
  });

  test('consistency for (from, to) pairs: from = 1, from = to, powers of two, the checkpoint', async () => {
    const n = leaves.length;
    const points = [
      ...new Set(
        [1, 2, 3, 4, 7, 8, 9, 16, 17, 32, cp.treeSize - 1, cp.treeSize, n - 1, n].filter((s) => s >= 1 && s <= n),
      ),
    ];
    let checked = 0;
    for (const to of points)
      for (const from of points.filter((f) => f <= to)) {
        const r = await getJson<{ from: number; to: number; fromRoot: string; toRoot: string; proof: string[] }>(
          `/v1/audit/proofs/consistency?from=${from}&to=${to}`,
        );
        const a = mth(leaves.slice(0, from));
        const b = mth(leaves.slice(0, to));
        expect([r.from, r.to, r.fromRoot, r.toRoot]).toEqual([from, to, a.toString('hex'), b.toString('hex')]);
        const proof = r.proof.map((h) => Buffer.from(h, 'hex'));
        if (from === to) expect(proof).toEqual([]);
        expect(rfcVerifyConsistency(from, to, a, b, proof)).toBe(true);
        if (from < to) expect(rfcVerifyConsistency(from, to, leafOf(Buffer.from('x')), b, proof)).toBe(false);
        checked++;
      }
    expect(checked).toBeGreaterThan(80);
    // the auditor's checkpoint extends to the head
    const head = await getJson<{ fromRoot: string; proof: string[]; toRoot: string }>(
      `/v1/audit/proofs/consistency?from=${cp.treeSize}&to=${n}`,
    );
    expect(head.fromRoot).toBe(cp.rootHash);
    expect(
      rfcVerifyConsistency(
        cp.treeSize,
        n,
        Buffer.from(cp.rootHash, 'hex'),
        mth(leaves),
        head.proof.map((h) => Buffer.from(h, 'hex')),
      ),
    ).toBe(true);
  });
});

/** '' when equal, else both texts around their first difference (a readable failure for long JSON). */
function around(got: string, want: string): string {
  if (got === want) return '';
  let i = 0;
  while (got[i] === want[i]) i++;
  return `at ${i}: got …${got.slice(Math.max(0, i - 80), i + 80)}… want …${want.slice(Math.max(0, i - 80), i + 80)}…`;
}

describe('cpreg audit replay against the service at the same version', () => {
  test('every version of every vCPU: the state and the arrays, byte for byte', async () => {
    let compared = 0;
    for (const [key, a] of answers) {
      const [cpu, v] = key.split('@') as [string, string];
      const arrays = await cpreg(['audit', 'replay', urlExport, '--cpu', cpu, '--at', v]);
      expect(arrays.stderr).toBe('');
      expect(around(arrays.stdout.toString(), a.arrays + '\n')).toBe('');
      const state = await cpreg(['audit', 'replay', urlExport, '--cpu', cpu, '--at', v, '--view', 'state']);
      expect(around(state.stdout.toString(), a.state + '\n')).toBe('');
      compared++;
    }
    expect(compared).toBeGreaterThan(30);
  }, 600_000);

  test('--at TIME: the version recorded at or before that time', async () => {
    for (const [key, a] of [...answers].filter(([k]) => k.startsWith('vmk.cpu0@'))) {
      const r = await cpreg(['audit', 'replay', urlExport, '--cpu', key.split('@')[0]!, '--at', a.recordedAt!]);
      expect(r.stderr).toBe('');
      // two events may share a millisecond: the newest of them is the answer
      const same = [...answers].filter(([k, b]) => k.startsWith('vmk.cpu0@') && b.recordedAt === a.recordedAt).at(-1)!;
      expect(r.stdout.toString()).toBe(same[1].arrays + '\n');
    }
  });

  test('--blob v22/v23: the blob the service exported at that version', async () => {
    for (const b of blobs) {
      const out = path.join(tmp, `replayed-${b.cpu}.${b.format}`);
      const r = await cpreg([
        'audit',
        'replay',
        urlExport,
        '--cpu',
        b.cpu,
        '--at',
        String(b.version),
        '--blob',
        b.format,
        '-o',
        out,
      ]);
      expect(r.code).toBe(0);
      expect(fs.readFileSync(out).equals(fs.readFileSync(b.file))).toBe(true);
    }
  });
});
