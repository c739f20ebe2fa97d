import { decide, diffStates, foldEvents, serializeEvent, type VcpuEvent } from '../../domain/vcpu';
import { CpregService } from '../../app/service';
import { FOLD_CHUNK } from '../../app/states';
import type { EventPayload } from '../../storage/event-store';
import { freshStore, meta, sysreg } from '../storage/helpers';

/** A fold reads FOLD_CHUNK versions at a time: memory of one chunk, the same state as one read. */
test('a long history folds chunk by chunk to exactly the state of one fold, at every boundary', async () => {
  const { store, done } = freshStore();
  try {
    const ids = Array.from({ length: 8 }, (_, i) => sysreg(0xc000 + i));
    const events: VcpuEvent[] = decide({ type: 'CreateVcpu', accelerator: 'tcg', registers: ids }, undefined);
    let state = foldEvents(undefined, events)!;
    const total = 2 * FOLD_CHUNK + 7;
    for (let k = 1; k < total; k++) {
      const e =
        k % 5 === 0
          ? decide(
              { type: 'SyncFromAccelerator', values: ids.map((id, i) => [id, BigInt(i === k % 8 ? k : 0)]) },
              state,
            )
          : decide({ type: 'WriteRegisters', values: [[ids[k % 8]!, BigInt(k)]] }, state);
      events.push(...e);
      state = foldEvents(state, e)!;
    }
    for (let v = 0; v < total; v += 1000) {
      await store.appendGroup({
        appends: [
          {
            streamId: 'long',
            expectedVersion: v,
            events: events.slice(v, v + 1000).map(serializeEvent),
            kind: 'vcpu',
          },
        ],
        metadata: meta,
      });
    }
    const reads: Array<[number, number, number]> = [];
    const read = store.readPayloads.bind(store);
    store.readPayloads = async (id: string, from?: number, to?: number): Promise<EventPayload[]> => {
      const rows = await read(id, from, to);
      reads.push([from ?? 1, to ?? Infinity, rows.length]);
      return rows;
    };
    const service = new CpregService(store, { snapshotEvery: 100 });
    for (const version of [FOLD_CHUNK - 1, FOLD_CHUNK, FOLD_CHUNK + 1, 2 * FOLD_CHUNK, total]) {
      reads.length = 0;
      const loaded = await service.states.load('long', version, { cache: false, snapshots: false });
      const want = foldEvents(undefined, events.slice(0, version))!;
      expect(diffStates(loaded!.state, want)).toEqual([]);
      expect(loaded!.state.lastSyncFailed).toEqual(want.lastSyncFailed);
      expect(reads.length).toBe(Math.ceil(version / FOLD_CHUNK));
      expect(Math.max(...reads.map((r) => r[2]))).toBeLessThanOrEqual(FOLD_CHUNK);
      expect(reads.reduce((n, r) => n + r[2], 0)).toBe(version);
    }
    const replay = await service.states.replayAll();
    expect(replay).toEqual({ streams: 1, events: total });
  } finally {
    await done();
  }
}, 60_000);
