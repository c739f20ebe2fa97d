import fc from 'fast-check';
import { indexOfReg, readValueAt } from '../../domain/cpreg-arrays';
import {
  deserializeEvent,
  exportBlob,
  foldEvents,
  serializeState,
  type VcpuCommand,
  type VcpuState,
} from '../../domain/vcpu';
import { IdempotencyConflictError, PreconditionFailedError, Refused } from '../../app/errors';
import { CpregService, type ServiceOptions } from '../../app/service';
import type { EventStore, MetadataInput } from '../../storage/event-store';
import { freshStore, meta, sysreg } from '../storage/helpers';

interface RunOptions {
  metadata: MetadataInput;
  expectedVersion?: number;
  idempotency?: { key: string; requestHash: string };
  resultOf?: (o: { state: VcpuState; version: number }) => unknown;
}

/** One vCPU at a time through the application, answering what a test checks. */
class VcpuRepository {
  readonly service: CpregService;
  constructor(
    private readonly store: EventStore,
    opts: ServiceOptions = {},
  ) {
    this.service = new CpregService(store, opts);
  }
  async execute(id: string, command: VcpuCommand, opts: RunOptions) {
    const out = await this.service.execute(
      [
        {
          streamId: id,
          command,
          ...(opts.expectedVersion === undefined ? {} : { condition: { match: [opts.expectedVersion] } }),
        },
      ],
      {
        metadata: opts.metadata,
        ...(opts.idempotency ? { idempotency: opts.idempotency } : {}),
        answer: ([d]) => ({
          version: d!.version,
          from: d!.version - d!.events.length + 1,
          result: opts.resultOf?.(d!),
        }),
      },
    );
    const { version, from, result } = out.answer;
    const state = (await this.service.states.load(id, version))!.state;
    const events = await this.store.readStream(id, from, version);
    return { version, state, events, replayed: out.replayed, result };
  }
  load(id: string, version?: number, opts?: { cache?: boolean; snapshots?: boolean }) {
    return this.service.states.load(id, version, opts);
  }
  async diff(id: string, from: number, to: number) {
    return (await this.service.queries.diff(id, from, to)).changes;
  }
  async history(id: string, from: number, limit: number) {
    return (await this.service.queries.history(id, from - 1, limit)).events;
  }
  replayAll() {
    return this.service.states.replayAll();
  }
}

const N_REGS = 12;
const create = (labels: Record<string, string> = { vm: 'web-1' }): VcpuCommand => ({
  type: 'CreateVcpu',
  accelerator: 'tcg',
  registers: Array.from({ length: N_REGS }, (_, i) => sysreg(i)),
  labels,
});
const write = (pairs: Array<[number, bigint]>): VcpuCommand => ({
  type: 'WriteRegisters',
  values: pairs.map(([i, v]) => [sysreg(i), v] as const),
});
const valueOf = (s: VcpuState, i: number) => readValueAt(s.arrays, indexOfReg(s.arrays, sysreg(i)));
const same = (a: VcpuState | undefined, b: VcpuState | undefined) =>
  expect(a && serializeState(a)).toEqual(b && serializeState(b));

describe("the application's command handler (one vCPU)", () => {
  let h: ReturnType<typeof freshStore>;
  let repo: VcpuRepository;
  beforeEach(() => {
    h = freshStore();
    repo = new VcpuRepository(h.store, { snapshotEvery: 5 });
  });
  afterEach(() => h.done());

  test('execute decides, appends and answers the new state; load rebuilds it from events', async () => {
    const c = await repo.execute('cpu-1', create(), { metadata: meta });
    expect(c).toMatchObject({ version: 1, replayed: false });
    expect(c.events.map((e) => e.type)).toEqual(['VcpuCreated']);
    const w = await repo.execute('cpu-1', write([[3, 0xabcn]]), { metadata: { actor: 'ops', requestId: 'r-1' } });
    expect(w.version).toBe(2);
    expect(valueOf(w.state, 3)).toBe(0xabcn);
    expect(w.events[0]?.metadata).toMatchObject({ actor: 'ops', requestId: 'r-1' });
    const fresh = new VcpuRepository(h.store);
    const loaded = await fresh.load('cpu-1');
    expect(loaded?.version).toBe(2);
    same(loaded?.state, w.state);
    expect(await repo.load('nope')).toBeUndefined();
    expect((await h.store.getStream('cpu-1'))?.labels).toEqual({ vm: 'web-1' });
  });

  test('a refused command appends nothing and leaves the vCPU usable', async () => {
    await repo.execute('cpu-1', create(), { metadata: meta });
    await expect(repo.execute('cpu-1', write([[99, 1n]]), { metadata: meta })).rejects.toBeInstanceOf(Refused);
    await expect(repo.execute('cpu-1', create(), { metadata: meta })).rejects.toMatchObject({ kind: 'vcpu-exists' });
    await expect(repo.execute('cpu-2', write([[1, 1n]]), { metadata: meta })).rejects.toMatchObject({
      kind: 'vcpu-not-found',
    });
    expect(await h.store.streamVersion('cpu-1')).toBe(1);
    expect((await repo.execute('cpu-1', write([[1, 1n]]), { metadata: meta })).version).toBe(2);
  });

  test('time travel, diff between versions and history', async () => {
    await repo.execute('cpu-1', create(), { metadata: meta });
    for (let v = 1; v <= 12; v++) await repo.execute('cpu-1', write([[v % N_REGS, BigInt(v)]]), { metadata: meta });
    for (let v = 1; v <= 13; v++) {
      const s = (await repo.load('cpu-1', v))!.state;
      expect(valueOf(s, 5)).toBe(v > 5 ? 5n : 0n);
      expect(valueOf(s, 0)).toBe(v > 12 ? 12n : 0n);
    }
    expect(await repo.load('cpu-1', 14)).toBeUndefined();
    expect(await repo.load('cpu-1', 0)).toBeUndefined();
    expect(await repo.diff('cpu-1', 3, 6)).toEqual([
      { id: sysreg(3), before: 0n, after: 3n },
      { id: sysreg(4), before: 0n, after: 4n },
      { id: sysreg(5), before: 0n, after: 5n },
    ]);
    expect((await repo.diff('cpu-1', 0, 1))?.length).toBe(N_REGS);
    expect((await repo.history('cpu-1', 4, 3)).map((e) => e.version)).toEqual([4, 5, 6]);
  });

  test('snapshots are written every K events after commit and used by loads', async () => {
    await repo.execute('cpu-1', create(), { metadata: meta });
    for (let v = 1; v <= 11; v++) await repo.execute('cpu-1', write([[1, BigInt(v)]]), { metadata: meta });
    await new Promise((r) => setImmediate(r));
    const versions = h.store.db
      .prepare("SELECT version FROM snapshots WHERE stream_id = 'cpu-1' ORDER BY version")
      .pluck()
      .all();
    expect(versions).toEqual([5, 10]);
    const viaSnapshot = await new VcpuRepository(h.store).load('cpu-1', 12, { cache: false });
    const viaFold = await repo.load('cpu-1', 12, { snapshots: false, cache: false });
    same(viaSnapshot?.state, viaFold?.state);
  });

  test('a corrupt, stale or old-format snapshot is ignored (never trusted over events) and rebuilt', async () => {
    const r = new VcpuRepository(h.store, { snapshotEvery: 3 });
    await r.execute('cpu-1', create(), { metadata: meta });
    for (let v = 1; v <= 9; v++) await r.execute('cpu-1', write([[2, BigInt(v)]]), { metadata: meta });
    await new Promise((res) => setImmediate(res));
    const truth = (await r.load('cpu-1', 10, { snapshots: false, cache: false }))!.state;
    const db = h.store.db;
    // edited bytes (checksum no longer matches)
    db.prepare('UPDATE snapshots SET data = replace(data, \'"9"\', \'"7"\') WHERE version = 9').run();
    same((await new VcpuRepository(h.store).load('cpu-1', 10, { cache: false }))!.state, truth);
    // an old format: schema version the domain does not know
    db.prepare('DELETE FROM snapshots').run();
    await h.store.putSnapshot({ streamId: 'cpu-1', version: 9, schemaVersion: 0, data: { anything: true } });
    // a well-formed payload that does not decode
    await h.store.putSnapshot({ streamId: 'cpu-1', version: 6, schemaVersion: 1, data: { accelerator: 'nope' } });
    const skippedBefore = h.store.stats.snapshotsSkipped;
    const fresh = new VcpuRepository(h.store, { snapshotEvery: 3 });
    same((await fresh.load('cpu-1', 10, { cache: false }))!.state, truth);
    expect(h.store.stats.snapshotsSkipped).toBe(skippedBefore); // checksums fine: the domain refused them
    // the fold covered ≥ K events, so a good snapshot was written at the loaded version
    await new Promise((res) => setImmediate(res));
    expect(db.prepare('SELECT version FROM snapshots WHERE schema_version = 1 AND version = 10').pluck().get()).toBe(
      10,
    );
    // a snapshot whose event was rewritten behind its back (event hash differs) is skipped
    db.prepare("UPDATE events SET hash = randomblob(32) WHERE stream_id = 'cpu-1' AND version = 10").run();
    same((await fresh.load('cpu-1', 10, { cache: false }))!.state, truth);
    expect(h.store.stats.snapshotsSkipped).toBeGreaterThan(skippedBefore);
  });

  test('state via snapshots equals state via the full fold, for random histories (property)', async () => {
    const reg = fc.integer({ min: 0, max: N_REGS - 1 });
    const value = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    /** A step: a command, or a v22 blob load built from the state at that moment. */
    type Step = { command: VcpuCommand } | { loadBlob: Array<[number, bigint]> };
    const pairs = (max: number) =>
      fc.uniqueArray(fc.tuple(reg, value), { minLength: 1, maxLength: max, selector: ([i]) => i });
    const step: fc.Arbitrary<Step> = fc.oneof(
      pairs(4).map((p) => ({ command: write(p) })),
      fc
        .uniqueArray(reg, { minLength: 1, maxLength: 6 })
        .chain((ids) =>
          fc.tuple(
            fc.constant(ids),
            fc.array(value, { minLength: ids.length, maxLength: ids.length }),
            fc.integer({ min: 0, max: ids.length }),
          ),
        )
        .map(([ids, vals, nFailed]) => ({
          command: {
            type: 'SyncFromAccelerator',
            values: ids.slice(nFailed).map((i, k) => [sysreg(i), vals[k]] as const),
            failed: ids.slice(0, nFailed).map(sysreg),
          } as VcpuCommand,
        })),
      fc.constant({ command: { type: 'SyncToAccelerator' } as VcpuCommand }),
      pairs(3).map((p) => ({ loadBlob: p })),
    );
    const blobCommand = (state: VcpuState, p: Array<[number, bigint]>): VcpuCommand => {
      const arrays = { ...state.arrays, cpregValues: state.arrays.cpregValues.slice() };
      for (const [i, v] of p) arrays.cpregValues[indexOfReg(arrays, sysreg(i))] = v;
      return { type: 'LoadBlob', format: 'v22', blob: exportBlob({ ...state, arrays }, 'v22') };
    };
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 7 }),
        async (steps, k) => {
          const id = `prop-${run++}`;
          const r = new VcpuRepository(h.store, { snapshotEvery: k });
          let state = (await r.execute(id, create(), { metadata: meta })).state;
          for (const st of steps) {
            const command = 'command' in st ? st.command : blobCommand(state, st.loadBlob);
            state = (await r.execute(id, command, { metadata: meta })).state;
          }
          await new Promise((res) => setImmediate(res));
          const head = await h.store.streamVersion(id);
          expect(head).toBe(steps.length + 1);
          // the model: the fold of the stored events, one by one
          const all = await h.store.readPayloads(id);
          for (const target of new Set([1, head, Math.ceil(head / 2), Math.max(1, head - 1)])) {
            const cold = new VcpuRepository(h.store, { snapshotEvery: k });
            const viaSnap = await cold.load(id, target, { cache: false });
            const viaFold = await cold.load(id, target, { snapshots: false, cache: false });
            same(viaSnap?.state, viaFold?.state);
            same(
              viaFold?.state,
              foldEvents(
                undefined,
                all.slice(0, target).map((p) => deserializeEvent(p[1], p[2], JSON.parse(p[3]))),
              ),
            );
          }
          same((await r.load(id))?.state, state);
        },
      ),
      { numRuns: 40 },
    );
    // the property went through snapshots, not only folds
    expect(h.store.db.prepare('SELECT COUNT(*) FROM snapshots').pluck().get()).toBeGreaterThan(20);
  });

  describe('concurrency', () => {
    test('concurrent writes without If-Match all succeed, in one transaction, each deciding on the one before', async () => {
      await repo.execute('cpu-1', create(), { metadata: meta });
      const commits = h.store.stats.commits;
      const outs = await Promise.all(
        Array.from({ length: 20 }, (_, i) => repo.execute('cpu-1', write([[1, BigInt(i + 1)]]), { metadata: meta })),
      );
      expect(outs.map((o) => o.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
      expect(h.store.stats.commits - commits).toBe(1);
      expect(valueOf((await new VcpuRepository(h.store).load('cpu-1'))!.state, 1)).toBe(20n);
    });

    test('two writers with the same If-Match version: exactly one wins, the other fails its precondition', async () => {
      await repo.execute('cpu-1', create(), { metadata: meta });
      const rs = await Promise.allSettled([
        repo.execute('cpu-1', write([[1, 1n]]), { metadata: meta, expectedVersion: 1 }),
        repo.execute('cpu-1', write([[1, 2n]]), { metadata: meta, expectedVersion: 1 }),
      ]);
      expect(rs.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const lost = rs.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(lost.reason).toBeInstanceOf(PreconditionFailedError);
      expect(lost.reason).toMatchObject({ actualVersion: 2 });
      expect(await h.store.streamVersion('cpu-1')).toBe(2);
    });

    test('another process writing the stream: writes without If-Match retry and succeed; a stale If-Match is refused', async () => {
      const other = h.reopen();
      try {
        const repo2 = new VcpuRepository(other);
        await repo.execute('cpu-1', create(), { metadata: meta });
        await repo.load('cpu-1'); // both caches warm
        await repo2.load('cpu-1');
        const outs = await Promise.all([
          repo.execute('cpu-1', write([[1, 1n]]), { metadata: meta }),
          repo2.execute('cpu-1', write([[2, 2n]]), { metadata: meta }),
          repo.execute('cpu-1', write([[3, 3n]]), { metadata: meta }),
        ]);
        expect(outs.map((o) => o.version).sort()).toEqual([2, 3, 4]);
        const s = (await repo.load('cpu-1'))!.state;
        expect([valueOf(s, 1), valueOf(s, 2), valueOf(s, 3)]).toEqual([1n, 2n, 3n]);
        await repo2.execute('cpu-1', write([[4, 4n]]), { metadata: meta });
        await expect(
          repo.execute('cpu-1', write([[4, 5n]]), { metadata: meta, expectedVersion: 4 }),
        ).rejects.toMatchObject({ actualVersion: 5 });
        expect((await repo.execute('cpu-1', write([[4, 5n]]), { metadata: meta, expectedVersion: 5 })).version).toBe(6);
        expect((await other.verify()).ok).toBe(true);
      } finally {
        await other.close();
      }
    });
  });

  describe('idempotency', () => {
    const idem = { key: 'key-1', requestHash: 'hash-1' };

    test('a repeat returns the original result and version without deciding or appending', async () => {
      await repo.execute('cpu-1', create(), { metadata: meta });
      const first = await repo.execute('cpu-1', write([[1, 7n]]), {
        metadata: meta,
        idempotency: idem,
        resultOf: (o) => ({ v: o.version, x: String(valueOf(o.state, 1)) }),
      });
      await repo.execute('cpu-1', write([[1, 8n]]), { metadata: meta });
      const again = await repo.execute('cpu-1', write([[1, 7n]]), {
        metadata: meta,
        idempotency: idem,
        expectedVersion: 1,
      });
      expect(first).toMatchObject({ replayed: false, version: 2, result: { v: 2, x: '7' } });
      expect(again).toMatchObject({ replayed: true, version: 2, result: { v: 2, x: '7' } });
      expect(again.events.map((e) => e.position)).toEqual(first.events.map((e) => e.position));
      expect(valueOf(again.state, 1)).toBe(7n);
      expect(await h.store.streamVersion('cpu-1')).toBe(3);
      await expect(
        repo.execute('cpu-1', write([[1, 9n]]), { metadata: meta, idempotency: { ...idem, requestHash: 'other' } }),
      ).rejects.toBeInstanceOf(IdempotencyConflictError);
    });

    test('concurrent repeats of one key: one append, the others replay', async () => {
      await repo.execute('cpu-1', create(), { metadata: meta });
      const outs = await Promise.all(
        Array.from({ length: 5 }, () => repo.execute('cpu-1', write([[1, 7n]]), { metadata: meta, idempotency: idem })),
      );
      expect(outs.filter((o) => !o.replayed)).toHaveLength(1);
      expect(new Set(outs.map((o) => o.version))).toEqual(new Set([2]));
      expect(await h.store.streamVersion('cpu-1')).toBe(2);
      // and the cache was not left with what the replays decided
      expect((await repo.execute('cpu-1', write([[2, 1n]]), { metadata: meta })).version).toBe(3);
    });

    test('the same key raced by two processes: one appends, the other replays', async () => {
      const other = h.reopen();
      try {
        await repo.execute('cpu-1', create(), { metadata: meta });
        const outs = await Promise.all([
          repo.execute('cpu-1', write([[1, 7n]]), { metadata: meta, idempotency: idem }),
          new VcpuRepository(other).execute('cpu-1', write([[1, 7n]]), { metadata: meta, idempotency: idem }),
        ]);
        expect(outs.map((o) => o.replayed).sort()).toEqual([false, true]);
        expect(await h.store.streamVersion('cpu-1')).toBe(2);
        expect((await repo.execute('cpu-1', write([[2, 1n]]), { metadata: meta })).version).toBe(3);
      } finally {
        await other.close();
      }
    });
  });

  test('replayAll folds every vCPU from its first event', async () => {
    for (let c = 0; c < 3; c++) {
      await repo.execute(`cpu-${c}`, create(), { metadata: meta });
      for (let v = 0; v < 4; v++) await repo.execute(`cpu-${c}`, write([[v, 1n]]), { metadata: meta });
    }
    expect(await repo.replayAll()).toEqual({ streams: 3, events: 15 });
  });
});
