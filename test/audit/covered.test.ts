import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import Database from 'better-sqlite3';
import { CpregService } from '../../app/service';
import { generateSigningKey } from '../../storage/audit/checkpoint';
import { SqliteEventStore } from '../../storage/sqlite/sqlite-event-store';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-covered-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function seeded(opts: ConstructorParameters<typeof CpregService>[1] = {}) {
  const file = path.join(dir, 'cpreg.db');
  const store = new SqliteEventStore({ file });
  const service = new CpregService(store, opts);
  for (let i = 0; i < 3; i++) {
    await store.append({
      streamId: 's1',
      expectedVersion: i,
      events: [{ type: 'Noted', schemaVersion: 1, data: { i } }],
      metadata: { actor: 't' },
    });
  }
  await store.whenDurable();
  return { file, store, service };
}

describe('stream heads are the log', () => {
  test('a lowered streams.version neither hides the newest event nor passes verify', async () => {
    const { file, store, service } = await seeded();
    const raw = new Database(file);
    raw.prepare("UPDATE streams SET version = 2 WHERE stream_id = 's1'").run();
    raw.close();
    expect(await store.streamVersion('s1')).toBe(3);
    const v = await store.verify();
    expect(v.ok).toBe(false);
    expect(v.reason).toMatch(/recorded at version 2 but its events end at 3/);
    await service.close();
  });
});

describe('the service checks itself against its latest checkpoint', () => {
  test('an event changed behind its back is a mismatch: /readyz material', async () => {
    const keyFile = path.join(dir, 'k.pem');
    fs.writeFileSync(keyFile, generateSigningKey().privatePem);
    const alarms: string[] = [];
    const { file, service } = await seeded({
      audit: { signingKeyFile: keyFile, every: 1e9, seconds: 3600, onAlarm: (d) => alarms.push(d) },
    });
    const cp = await service.audit.checkpoint();
    expect(cp.treeSize).toBe(3);
    expect((await service.audit.selfCheck(false)).state).toBe('ok');
    const raw = new Database(file);
    raw.prepare('UPDATE events SET data = \'{"i":7}\' WHERE position = 2').run();
    raw.close();
    const s = await service.audit.selfCheck(false);
    expect(s.state).toBe('mismatch');
    expect(s.detail).toMatch(/event 2 differs/);
    expect(alarms.join('\n')).toMatch(/AUDIT MISMATCH/);
    const v = await service.audit.verify();
    expect(v.ok).toBe(false);
    await service.close();
  });

  test('at start, a log whose chain was recomputed does not match the checkpoint in it', async () => {
    const keyFile = path.join(dir, 'k.pem');
    fs.writeFileSync(keyFile, generateSigningKey().privatePem);
    const { file, service } = await seeded({ audit: { signingKeyFile: keyFile, every: 1e9, seconds: 3600 } });
    await service.audit.checkpoint();
    await service.close();
    // an edit of event 1 with every hash recomputed after it
    const { canonicalEventText, chainHash, GENESIS_HASH } = await import('../../storage/canonical');
    const raw = new Database(file);
    raw.prepare('UPDATE events SET data = \'{"i":9}\' WHERE position = 1').run();
    let prev = GENESIS_HASH;
    for (const r of raw.prepare('SELECT * FROM events ORDER BY position').all() as Array<{
      position: number;
      stream_id: string;
      version: number;
      type: string;
      schema_version: number;
      data: string;
      metadata: string;
    }>) {
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
      raw.prepare('UPDATE events SET hash = ? WHERE position = ?').run(prev, r.position);
    }
    raw.close();
    const store2 = new SqliteEventStore({ file });
    const again = new CpregService(store2, { audit: { signingKeyFile: keyFile, every: 1e9, seconds: 3600 } });
    const s = await again.audit.selfCheck(true);
    expect(s.state).toBe('mismatch');
    expect(s.detail).toMatch(/not those checkpoint 3 signed/);
    await again.close();
  });
});
