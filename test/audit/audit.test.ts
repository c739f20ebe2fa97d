import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import Database from 'better-sqlite3';
import request from 'supertest';
import { createApp } from '../../api/app';
import { DEFAULTS } from '../../api/config';
import type { AppContext } from '../../api/context';
import { createLogger } from '../../api/logging';
import { Metrics } from '../../api/metrics';
import { Readiness } from '../../api/readiness';
import { CpregService } from '../../app/service';
import { main } from '../../cli/cpreg';
import { exportBlob } from '../../domain/vcpu';
import { canonicalEventText, chainHash, GENESIS_HASH } from '../../storage/canonical';
import { generateSigningKey } from '../../storage/audit/checkpoint';
import { leafHash, verifyConsistency, verifyInclusion } from '../../storage/audit/merkle';
import { SqliteEventStore } from '../../storage/sqlite/sqlite-event-store';

const json = 'application/json';
let dir: string;
let dbFile: string;
let keyFile: string;
let store: SqliteEventStore;
let service: CpregService;
let ctx: AppContext;
let app: ReturnType<typeof createApp>;
const api = () => request(app);

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += typeof s === 'string' ? s : Buffer.from(s).toString('latin1');
    return true;
  });
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err += String(s);
    return true;
  });
  try {
    const code = await main(args, {});
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-audit-'));
  dbFile = path.join(dir, 'cpreg.db');
  keyFile = path.join(dir, 'signing.pem');
  const k = generateSigningKey();
  fs.writeFileSync(keyFile, k.privatePem);
  fs.writeFileSync(keyFile + '.pub', k.publicPem);
  store = new SqliteEventStore({ file: dbFile });
  service = new CpregService(store, {
    snapshotEvery: 5,
    audit: { signingKeyFile: keyFile, every: 1e9, seconds: 3600 },
  });
  ctx = {
    service,
    logger: createLogger('silent'),
    streamLimit: DEFAULTS.streamLimit,
    rewriteHoldBack: DEFAULTS.rewriteHoldBack,
    limits: DEFAULTS.limits,
    readiness: new Readiness(),
    metrics: new Metrics(),
    onShutdown: () => undefined,
  };
  app = createApp(ctx);
  for (const id of ['vm1.cpu0', 'vm1.cpu1']) {
    expect((await api().post('/v1/cpus').set('content-type', json).send({ id, accelerator: 'hvf' })).status).toBe(201);
  }
  for (let i = 1; i <= 12; i++) {
    const id = i % 2 ? 'vm1.cpu0' : 'vm1.cpu1';
    const r = await api()
      .put(`/v1/cpus/${id}/registers/TPIDR_EL0`)
      .set('content-type', json)
      .send({ value: '0x' + (0x1000 + i).toString(16) });
    expect(r.status).toBeLessThan(300);
  }
});

afterAll(async () => {
  await service.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('checkpoints, keys and proofs over HTTP', () => {
  let cp: { treeSize: number; rootHash: string; chainHead: string; keyId: string; signature: string; time: string };
  test('POST a checkpoint; latest, by tree size, keys', async () => {
    const r = await api().post('/v1/audit/checkpoints');
    expect(r.status).toBe(201);
    cp = r.body;
    expect(cp.treeSize).toBe(14);
    expect((await api().get('/v1/audit/checkpoints/latest')).body).toEqual(cp);
    expect((await api().get(`/v1/audit/checkpoints/${cp.treeSize}`)).body).toEqual(cp);
    expect((await api().get('/v1/audit/checkpoints/3')).status).toBe(404);
    const keys = (await api().get('/v1/audit/keys')).body.keys;
    expect(keys).toEqual([expect.objectContaining({ keyId: cp.keyId, algorithm: 'Ed25519', current: true })]);
    fs.writeFileSync(path.join(dir, 'cp.json'), JSON.stringify(cp));
  });

  test('inclusion and consistency proofs check against the signed root', async () => {
    const page = (await store.readFeedRaw(0, 100, 1e9)).events;
    for (const p of [1, 7, 14]) {
      const r = (await api().get(`/v1/audit/proofs/inclusion?position=${p}&treeSize=${cp.treeSize}`)).body;
      expect(r.rootHash).toBe(cp.rootHash);
      const leaf = leafHash(canonicalEventText(page[p - 1]!));
      expect(r.leafHash).toBe(leaf.toString('hex'));
      const proof = (r.proof as string[]).map((h) => Buffer.from(h, 'hex'));
      expect(verifyInclusion(p - 1, cp.treeSize, leaf, proof, Buffer.from(cp.rootHash, 'hex'))).toBe(true);
    }
    const c = (await api().get(`/v1/audit/proofs/consistency?from=5&to=${cp.treeSize}`)).body;
    const ok = verifyConsistency(
      5,
      cp.treeSize,
      Buffer.from(c.fromRoot, 'hex'),
      Buffer.from(cp.rootHash, 'hex'),
      (c.proof as string[]).map((h) => Buffer.from(h, 'hex')),
    );
    expect(ok).toBe(true);
    expect((await api().get('/v1/audit/proofs/inclusion?position=999')).status).toBe(400);
  });

  test('/v1/audit/verify reports the checkpoint; /readyz the audit state', async () => {
    const v = (await api().get('/v1/audit/verify')).body;
    expect(v.ok).toBe(true);
    expect(v.checkpoint).toEqual(expect.objectContaining({ treeSize: 14, rootHash: cp.rootHash, ok: true }));
    await service.audit.selfCheck(false);
    const r = await api().get('/readyz');
    expect(r.status).toBe(200);
    expect(r.body.audit.state).toBe('ok');
  });
});

describe('cpreg audit: export, verify, prove, replay', () => {
  const exp = () => path.join(dir, 'export.jsonl');
  const cpFile = () => path.join(dir, 'cp.json');
  const pub = () => keyFile + '.pub';

  test('export --db, resumed after a cut, verifies', async () => {
    await store.whenDurable();
    const r = await cli(['audit', 'export', '--db', dbFile, '--out', exp()]);
    expect(r.code).toBe(0);
    const full = fs.readFileSync(exp(), 'utf8');
    const lines = full.trim().split('\n');
    expect(lines.length).toBe(16); // 14 events, the key and the checkpoint
    // cut in the middle of line 9: the export resumes after line 8
    fs.writeFileSync(exp(), full.slice(0, full.indexOf(lines[8]!) + 20));
    expect((await cli(['audit', 'export', '--db', dbFile, '--out', exp()])).out).toMatch(/resumed after position 8/);
    expect(fs.readFileSync(exp(), 'utf8')).toBe(full);
    // each line's event is exactly the canonical bytes the chain hashes
    let prev = GENESIS_HASH;
    for (const l of lines) {
      const m = /"hash":"([0-9a-f]{64})","event":(.*)\}$/.exec(l)!;
      prev = chainHash(prev, m[2]!);
      expect(prev.toString('hex')).toBe(m[1]);
    }
    const v = await cli(['audit', 'verify', exp(), '--key', pub(), '--checkpoint', cpFile()]);
    expect(v.err).toBe('');
    expect(v.code).toBe(0);
    const p = await cli([
      'audit',
      'prove',
      exp(),
      '--position',
      '3',
      '--key',
      pub(),
      '--checkpoint',
      cpFile(),
      '--json',
    ]);
    expect(p.code).toBe(0);
    expect(JSON.parse(p.out).ok).toBe(true);
  });

  test('export --url equals export --db', async () => {
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as { port: number }).port;
    try {
      const out = path.join(dir, 'export-url.jsonl');
      expect((await cli(['audit', 'export', '--url', `http://127.0.0.1:${port}`, '--out', out])).code).toBe(0);
      expect(fs.readFileSync(out, 'utf8')).toBe(fs.readFileSync(exp(), 'utf8'));
    } finally {
      server.close();
    }
  });

  test('replay equals the service at a version and at a time, arrays and blobs', async () => {
    for (const version of [1, 3, 7]) {
      const r = await cli(['audit', 'replay', exp(), '--cpu', 'vm1.cpu0', '--at', String(version)]);
      expect(r.code).toBe(0);
      const svc = await api().get(`/v1/cpus/vm1.cpu0/arrays?version=${version}`);
      expect(svc.status).toBe(200);
      expect(JSON.parse(r.out)).toEqual(svc.body);
      for (const format of ['v22', 'v23']) {
        const out = path.join(dir, `replay.${format}`);
        expect(
          (
            await cli([
              'audit',
              'replay',
              exp(),
              '--cpu',
              'vm1.cpu0',
              '--at',
              String(version),
              '--blob',
              format,
              '-o',
              out,
            ])
          ).code,
        ).toBe(0);
        const loaded = await service.states.load('vm1.cpu0', version);
        const blob = Buffer.from(exportBlob(loaded!.state, format as 'v22' | 'v23'));
        expect(fs.readFileSync(out).equals(blob)).toBe(true);
      }
    }
    const line5 = fs.readFileSync(exp(), 'utf8').split('\n')[4]!;
    const at = /"recordedAt":"([^"]+)"/.exec(line5)![1]!;
    const r = await cli(['audit', 'replay', exp(), '--cpu', 'vm1.cpu0', '--at', at]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).version).toBeGreaterThanOrEqual(1);
  });

  /** A copy of the database, changed by `edit` through SQLite, exported and verified. */
  async function tampered(name: string, edit: (db: Database.Database) => void): Promise<{ code: number; err: string }> {
    const copy = path.join(dir, `${name}.db`);
    await store.whenDurable();
    const src = new Database(dbFile, { readonly: true });
    await src.backup(copy);
    src.close();
    const db = new Database(copy);
    edit(db);
    db.close();
    const out = path.join(dir, `${name}.jsonl`);
    expect((await cli(['audit', 'export', '--db', copy, '--out', out])).code).toBe(0);
    const r = await cli(['audit', 'verify', out, '--key', pub(), '--checkpoint', cpFile()]);
    return { code: r.code, err: r.err };
  }

  type Row = {
    position: number;
    stream_id: string;
    version: number;
    type: string;
    schema_version: number;
    data: string;
    metadata: string;
  };
  /** Recomputes every hash from the first row on: what someone with write access can do. */
  function rechain(db: Database.Database): void {
    const rows = db
      .prepare(
        'SELECT position, stream_id, version, type, schema_version, data, metadata FROM events ORDER BY position',
      )
      .all() as Row[];
    let prev = GENESIS_HASH;
    const up = db.prepare('UPDATE events SET hash = ? WHERE position = ?');
    for (const r of rows) {
      prev = chainHash(
        prev,
        canonicalEventText({
          position: r.position,
          streamId: r.stream_id,
          version: r.version,
          type: r.type,
          schemaVersion: r.schema_version,
          dataText: r.data,
          metadataText: r.metadata,
        }),
      );
      up.run(prev, r.position);
    }
  }
  const editValue = (db: Database.Database) =>
    db
      .prepare("UPDATE events SET data = replace(data, '0x0000000000001003', '0x0000000000009999') WHERE position = 5")
      .run();

  test('the untouched copy passes', async () => {
    expect((await tampered('untouched', () => undefined)).code).toBe(0);
  });
  test('an edited event fails at its position', async () => {
    const r = await tampered('edited', editValue);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/first bad position 5/);
  });
  test('an edited event with the chain recomputed fails', async () => {
    const r = await tampered('edited-rechained', (db) => {
      editValue(db);
      rechain(db);
    });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/first bad position 1: .*checkpoint signed/);
  });
  test('a deleted event fails, with and without the chain recomputed', async () => {
    expect((await tampered('deleted', (db) => db.prepare('DELETE FROM events WHERE position = 6').run())).err).toMatch(
      /first bad position 6: position 6 is missing/,
    );
    const r = await tampered('deleted-rechained', (db) => {
      db.prepare('DELETE FROM events WHERE position = 6').run();
      db.prepare('UPDATE events SET position = position - 1 WHERE position > 6').run();
      rechain(db);
    });
    expect(r.code).toBe(1);
  });
  test('an inserted or reordered event fails', async () => {
    const ins = await tampered('inserted', (db) => {
      db.prepare('UPDATE events SET position = position + 1000 WHERE position > 4').run();
      db.prepare('UPDATE events SET position = position - 999 WHERE position > 1000').run();
      db.prepare(
        'INSERT INTO events (position, stream_id, version, type, schema_version, data, metadata, hash) SELECT 5, stream_id, version + 1000, type, schema_version, data, metadata, hash FROM events WHERE position = 4',
      ).run();
      rechain(db);
    });
    expect(ins.code).toBe(1);
    const re = await tampered('reordered', (db) => {
      db.prepare('UPDATE events SET position = -1 WHERE position = 5').run();
      db.prepare('UPDATE events SET position = 5 WHERE position = 6').run();
      db.prepare('UPDATE events SET position = 6 WHERE position = -1').run();
    });
    expect(re.code).toBe(1);
    expect(re.err).toMatch(/first bad position 5/);
  });
  test('a store rolled back behind the checkpoint fails', async () => {
    const r = await tampered('rolled-back', (db) => db.prepare('DELETE FROM events WHERE position > 10').run());
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/ends at position 10, behind the checkpoint's 14/);
  });
  test('a forged checkpoint fails', async () => {
    const cp = JSON.parse(fs.readFileSync(cpFile(), 'utf8'));
    const forged = path.join(dir, 'forged.json');
    fs.writeFileSync(forged, JSON.stringify({ ...cp, treeSize: 3 }));
    const r = await cli(['audit', 'verify', exp(), '--key', pub(), '--checkpoint', forged]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/signature/);
  });
});
