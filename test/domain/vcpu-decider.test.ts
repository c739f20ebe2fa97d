import { createHash } from 'node:crypto';
import { KVM_REG_ARM_PTIMER_CNT, KVM_REG_ARM_TIMER_CNT, HVF_SYSREGS } from '../../domain/accelerators';
import { indexOfReg, readValueAt } from '../../domain/cpreg-arrays';
import { DomainError } from '../../domain/errors';
import {
  checkLoad,
  decide,
  deserializeEvent,
  deserializeState,
  diffStates,
  evolve,
  exportBlob,
  foldEvents,
  loadReportOf,
  serializeEvent,
  serializeState,
  type VcpuCommand,
  type VcpuEvent,
  type VcpuState,
} from '../../domain/vcpu';
import { encodeV22 } from '../../domain/vmstate/v22';
import { decodeV23, encodeV23 } from '../../domain/vmstate/v23';
import { reportBytes } from '../../domain/vcpu/report-digest';
import { kvmList } from '../helpers/kvm-list';

const TPIDR_EL0 = 0x603000000013de82n;
const SCTLR_EL1 = 0x603000000013c080n;
const ID_AA64MMFR0_EL1 = 0x603000000013c038n;
const CORE_X0 = 0x6030000000100000n;
const SVE_Z0 = 0x6080000000150000n;
const FW_U2048 = 0x6080000000140100n;
const FW_U8 = 0x6000000000140101n;
const CCSIDR_0 = 0x6020000000110000n; // the first DEMUX CCSIDR id (U32) a real host's KVM list adds

/** given events, when command, then events (or a refusal). */
function given(events: VcpuEvent[]) {
  const state = foldEvents(undefined, events);
  return {
    state,
    when: (command: VcpuCommand) => {
      const run = () => decide(command, state);
      return {
        then: (check: (events: VcpuEvent[], after: VcpuState) => void) => {
          const out = run();
          check(out, foldEvents(state, out)!);
        },
        refused: (kind: string, registers?: bigint[]) => {
          let error: unknown;
          try {
            run();
          } catch (e) {
            error = e;
          }
          expect(error).toBeInstanceOf(DomainError);
          expect(error).toMatchObject({ kind, ...(registers ? { registers } : {}) });
        },
      };
    },
  };
}

/** The KVM list (kernel's or fixture-made, DEMUX included) and how many of its ids QEMU keeps. */
const { ids: kernel, kept: K } = kvmList();
const kvmCreate: VcpuCommand = {
  type: 'CreateVcpu',
  accelerator: 'kvm',
  registers: [...kernel, FW_U2048, FW_U8],
};
const created = (command: VcpuCommand = kvmCreate) => decide(command, undefined);
const value = (s: VcpuState, id: bigint) => readValueAt(s.arrays, indexOfReg(s.arrays, id));

describe('create', () => {
  test('KVM from the kernel list: CORE and SVE dropped, sorted, every size accepted, all zero', () => {
    given([])
      .when({
        ...kvmCreate,
        registers: [SVE_Z0, CORE_X0, ...(kvmCreate as { registers: readonly bigint[] }).registers].reverse(),
      })
      .then((events, s) => {
        expect(events).toHaveLength(1);
        expect(events[0]?.type).toBe('VcpuCreated');
        expect(s.arrays.cpregIndexes.length).toBe(K + 2);
        expect(indexOfReg(s.arrays, CORE_X0)).toBe(-1);
        expect(indexOfReg(s.arrays, SVE_Z0)).toBe(-1);
        expect([...s.arrays.cpregIndexes]).toEqual([...s.arrays.cpregIndexes].sort((a, b) => (a < b ? -1 : 1)));
        expect(s.arrays.cpregValues.length).toBe(K + 1 + 32);
        expect(s.arrays.cpregValues.every((v) => v === 0n)).toBe(true);
      });
  });

  test('refuses duplicates and non-arm64 ids in a KVM list, naming them', () => {
    given([])
      .when({ type: 'CreateVcpu', accelerator: 'kvm', registers: [TPIDR_EL0, SCTLR_EL1, TPIDR_EL0] })
      .refused('invalid-register-list', [TPIDR_EL0]);
    given([])
      .when({ type: 'CreateVcpu', accelerator: 'kvm', registers: [TPIDR_EL0, 0x40200000200e0000n] })
      .refused('invalid-register-list', [0x40200000200e0000n]);
  });

  test('TCG takes arm64 sysregs and AArch32 cp14/cp15 only', () => {
    given([])
      .when({
        type: 'CreateVcpu',
        accelerator: 'tcg',
        registers: [TPIDR_EL0, 0x40200000200e0000n, 0x40300000200f0100n],
      })
      .then((_, s) => {
        expect(s.arrays.cpregIndexes.length).toBe(3);
      });
    given([])
      .when({ type: 'CreateVcpu', accelerator: 'tcg', registers: [TPIDR_EL0, 0x6030000000140000n] })
      .refused('invalid-register-list', [0x6030000000140000n]);
    given([])
      .when({ type: 'CreateVcpu', accelerator: 'tcg', registers: [0x4020000020070000n] })
      .refused('invalid-register-list');
  });

  test("HVF defaults to QEMU's 107-register table, sorted; a given list must be a subset", () => {
    given([])
      .when({ type: 'CreateVcpu', accelerator: 'hvf' })
      .then((_, s) => {
        expect(s.arrays.cpregIndexes.length).toBe(107);
        expect(HVF_SYSREGS).toHaveLength(107);
        expect(indexOfReg(s.arrays, 0x6030000000138012n)).toBeGreaterThan(-1); // MDSCR_EL1, sorted into place
      });
    given([])
      .when({ type: 'CreateVcpu', accelerator: 'hvf', registers: [SCTLR_EL1, ID_AA64MMFR0_EL1] })
      .refused('invalid-register-list', [ID_AA64MMFR0_EL1]);
  });

  test('initial values; a value wider than its register is refused', () => {
    given([])
      .when({
        ...kvmCreate,
        values: [
          [TPIDR_EL0, 7n],
          [FW_U2048, (1n << 2047n) | 1n],
        ],
      })
      .then((_, s) => {
        expect(value(s, TPIDR_EL0)).toBe(7n);
        expect(value(s, FW_U2048)).toBe((1n << 2047n) | 1n);
      });
    given([])
      .when({ ...kvmCreate, values: [[FW_U8, 0x100n]] })
      .refused('invalid-value', [FW_U8]);
  });

  test('from a blob: KVM refuses CORE or SVE ids in it', () => {
    const tcg = given([]).when({
      type: 'CreateVcpu',
      accelerator: 'kvm',
      registers: [TPIDR_EL0, SCTLR_EL1],
      values: [[TPIDR_EL0, 5n]],
    });
    tcg.then((_, s) => {
      const blob = exportBlob(s, 'v22');
      given([])
        .when({ type: 'CreateVcpuFromBlob', accelerator: 'kvm', format: 'v22', blob })
        .then((_, t) => {
          expect(value(t, TPIDR_EL0)).toBe(5n);
        });
    });
    const withCore = encodeV22({
      cpregIndexes: BigUint64Array.from([CORE_X0, TPIDR_EL0]),
      cpregValueIndexes: Uint32Array.from([0, 1]),
      cpregValues: new BigUint64Array(2),
    });
    given([])
      .when({ type: 'CreateVcpuFromBlob', accelerator: 'kvm', format: 'v22', blob: withCore })
      .refused('invalid-register-list', [CORE_X0]);
  });

  test('an existing vCPU cannot be created again', () => {
    given(created()).when(kvmCreate).refused('vcpu-exists');
  });
});

describe('write registers', () => {
  test('a batch writes all its registers', () => {
    given(created())
      .when({
        type: 'WriteRegisters',
        values: [
          [TPIDR_EL0, 0x1122334455667788n],
          [SCTLR_EL1, 0x30d00800n],
        ],
      })
      .then((events, s) => {
        expect(events).toEqual([
          {
            type: 'RegistersWritten',
            written: { ids: [SCTLR_EL1, TPIDR_EL0], values: [0x30d00800n, 0x1122334455667788n] },
          },
        ]);
        expect(value(s, TPIDR_EL0)).toBe(0x1122334455667788n);
      });
  });

  test('all or nothing: one unknown register refuses the batch', () => {
    given(created())
      .when({
        type: 'WriteRegisters',
        values: [
          [TPIDR_EL0, 1n],
          [CORE_X0, 2n],
        ],
      })
      .refused('unknown-register', [CORE_X0]);
  });

  test('writes wider than the register are refused', () => {
    given(created())
      .when({ type: 'WriteRegisters', values: [[CCSIDR_0, 0x1_0000_0000n]] })
      .refused('invalid-value', [CCSIDR_0]);
  });

  test('a 2048-bit register is stored limb by limb', () => {
    const v = (0xabcdefn << 2000n) | 0x0102030405060708090an;
    given(created())
      .when({ type: 'WriteRegisters', values: [[FW_U2048, v]] })
      .then((_, s) => {
        const first = s.arrays.cpregValueIndexes[indexOfReg(s.arrays, FW_U2048)] ?? -1;
        expect(first).toBeGreaterThanOrEqual(0);
        expect(s.arrays.cpregValues[first]).toBe(0x0102030405060708090an & 0xffffffffffffffffn);
        expect(s.arrays.cpregValues[first + 1]).toBe(0x0102n);
        expect(s.arrays.cpregValues[first + 31]).toBe((v >> (64n * 31n)) & 0xffffffffffffffffn);
        expect(value(s, FW_U2048)).toBe(v);
      });
  });
});

describe('syncs', () => {
  test('from the accelerator: failed registers keep their slots and are recorded', () => {
    const history = [
      ...created(),
      ...decide({ type: 'WriteRegisters', values: [[SCTLR_EL1, 9n]] }, foldEvents(undefined, created())),
    ];
    given(history)
      .when({ type: 'SyncFromAccelerator', values: [[TPIDR_EL0, 3n]], failed: [SCTLR_EL1] })
      .then((events, s) => {
        expect(events[0]).toMatchObject({ type: 'SyncedFromAccelerator', failed: [SCTLR_EL1] });
        expect(value(s, TPIDR_EL0)).toBe(3n);
        expect(value(s, SCTLR_EL1)).toBe(9n);
        expect(s.lastSyncFailed).toEqual([SCTLR_EL1]);
      });
  });

  test('from the accelerator: only the values that changed are recorded, with the count and digest of the report', () => {
    const history = [
      ...created(),
      ...decide(
        {
          type: 'WriteRegisters',
          values: [
            [SCTLR_EL1, 9n],
            [TPIDR_EL0, 3n],
          ],
        },
        foldEvents(undefined, created()),
      ),
    ];
    const report = {
      ids: [SCTLR_EL1, TPIDR_EL0, FW_U8].sort((a, b) => (a < b ? -1 : 1)),
      values: [] as bigint[],
    };
    report.values = report.ids.map((id) => (id === SCTLR_EL1 ? 9n : id === TPIDR_EL0 ? 4n : 0n));
    given(history)
      .when({
        type: 'SyncFromAccelerator',
        values: [
          [TPIDR_EL0, 4n],
          [SCTLR_EL1, 9n],
          [FW_U8, 0n],
        ],
      })
      .then((events, s) => {
        expect(events).toEqual([
          {
            type: 'SyncedFromAccelerator',
            changed: { ids: [TPIDR_EL0], values: [4n] },
            failed: [],
            reported: 3,
            reportSha256: createHash('sha256').update(reportBytes(report)).digest('hex'),
          },
        ]);
        expect(value(s, TPIDR_EL0)).toBe(4n);
        expect(value(s, SCTLR_EL1)).toBe(9n);
        // stored at schema 2: the changed values only
        const stored = serializeEvent(events[0]!);
        expect(stored.schemaVersion).toBe(2);
        expect(stored.data).toEqual({
          ids: ['0x603000000013de82'],
          values: ['0x0000000000000004'],
          failed: [],
          reported: 3,
          reportSha256: (events[0] as { reportSha256: string }).reportSha256,
        });
        expect(deserializeEvent(stored.type, 2, JSON.parse(JSON.stringify(stored.data)))).toEqual(events[0]);
      });
    // nothing changed: still recorded (the sync happened), with nothing to write
    given(history)
      .when({ type: 'SyncFromAccelerator', values: [[TPIDR_EL0, 3n]] })
      .then((events) => expect(events[0]).toMatchObject({ changed: { ids: [], values: [] }, reported: 1 }));
  });

  test('from the accelerator: a version-1 event (the whole report) still reads, with its digest', () => {
    const e = deserializeEvent('SyncedFromAccelerator', 1, {
      ids: ['0x603000000013c080', '0x603000000013de82'],
      values: ['0x0000000000000009', '0x0000000000000003'],
      failed: [],
    });
    const report = { ids: [SCTLR_EL1, TPIDR_EL0], values: [9n, 3n] };
    expect(e).toEqual({
      type: 'SyncedFromAccelerator',
      changed: report,
      failed: [],
      reported: 2,
      reportSha256: createHash('sha256').update(reportBytes(report)).digest('hex'),
    });
    expect(() => deserializeEvent('SyncedFromAccelerator', 3, {})).toThrow(/schema version/);
  });

  test('from the accelerator: an unknown register refuses the whole sync', () => {
    given(created())
      .when({
        type: 'SyncFromAccelerator',
        values: [
          [TPIDR_EL0, 3n],
          [0x603000000013ffffn, 1n],
        ],
      })
      .refused('unknown-register', [0x603000000013ffffn]);
  });

  test('to KVM: list order, counters only at full level', () => {
    const kvm = given(created());
    kvm.when({ type: 'SyncToAccelerator' }).then((events) => {
      const e = events[0] as Extract<VcpuEvent, { type: 'SyncedToAccelerator' }>;
      expect(e.level).toBe('runtime');
      expect(e.written.ids).not.toContain(KVM_REG_ARM_TIMER_CNT);
      expect(e.written.ids).not.toContain(KVM_REG_ARM_PTIMER_CNT);
      expect(e.written.ids.length).toBe(kvm.state!.arrays.cpregIndexes.length - 2);
      expect([...e.written.ids]).toEqual([...e.written.ids].sort((a, b) => (a < b ? -1 : 1)));
    });
    kvm.when({ type: 'SyncToAccelerator', level: 'reset' }).then((events) => {
      expect((events[0] as Extract<VcpuEvent, { type: 'SyncedToAccelerator' }>).written.ids).not.toContain(
        KVM_REG_ARM_TIMER_CNT,
      );
    });
    kvm.when({ type: 'SyncToAccelerator', level: 'full' }).then((events, s) => {
      const ids = (events[0] as Extract<VcpuEvent, { type: 'SyncedToAccelerator' }>).written.ids;
      expect(ids).toContain(KVM_REG_ARM_TIMER_CNT);
      expect(ids).toContain(KVM_REG_ARM_PTIMER_CNT);
      expect(ids.length).toBe(s.arrays.cpregIndexes.length);
    });
  });

  test('to TCG: every register, no level', () => {
    given(created({ type: 'CreateVcpu', accelerator: 'tcg', registers: [TPIDR_EL0, 0x603000000013df1an] }))
      .when({ type: 'SyncToAccelerator', level: 'runtime' })
      .then((events) => {
        expect(events[0]).toMatchObject({ level: null, written: { ids: [TPIDR_EL0, 0x603000000013df1an] } });
      });
  });
});

describe('blobs', () => {
  test('export v22 of a list with registers wider than 8 bytes is refused, naming every one', () => {
    given(created())
      .when({ type: 'RecordExport', format: 'v22', sha256: 'a'.repeat(64), byteLength: 10 })
      .refused('not-representable', [FW_U2048]);
  });

  test('export v23, load it into a second vCPU: updated, changed, kept', () => {
    const src = given([...created()]).when({
      type: 'WriteRegisters',
      values: [
        [TPIDR_EL0, 0x42n],
        [FW_U2048, 1n << 2000n],
      ],
    });
    src.then((_, s) => {
      const blob = exportBlob(s, 'v23');
      expect(decodeV23(blob).cpregValues.length).toBe(s.arrays.cpregValues.length);
      given(created())
        .when({ type: 'LoadBlob', format: 'v23', blob })
        .then((events, t) => {
          const e = events[0] as Extract<VcpuEvent, { type: 'BlobLoaded' }>;
          expect(e.changed).toEqual([TPIDR_EL0, FW_U2048]);
          expect(value(t, FW_U2048)).toBe(1n << 2000n);
          expect(diffStates(s, t)).toEqual([]);
          expect(loadReportOf(e, t)).toMatchObject({ kept: [], warnings: [] });
        });
    });
  });

  test('a blob with a subset of the registers keeps the others (QEMU merge)', () => {
    const dest = given([...created(), { type: 'RegistersWritten', written: { ids: [SCTLR_EL1], values: [5n] } }]);
    const blob = encodeV22({
      cpregIndexes: BigUint64Array.from([TPIDR_EL0]),
      cpregValueIndexes: Uint32Array.from([0]),
      cpregValues: BigUint64Array.from([8n]),
    });
    const plan = checkLoad(dest.state!, { format: 'v22', blob });
    expect(plan.updated).toEqual([TPIDR_EL0]);
    expect(plan.kept).toHaveLength(dest.state!.arrays.cpregIndexes.length - 1);
    dest.when({ type: 'LoadBlob', format: 'v22', blob }).then((_, s) => {
      expect(value(s, TPIDR_EL0)).toBe(8n);
      expect(value(s, SCTLR_EL1)).toBe(5n);
    });
  });

  test('a blob with a register the vCPU lacks is refused, naming it, and changes nothing', () => {
    const dest = given(created({ type: 'CreateVcpu', accelerator: 'tcg', registers: [TPIDR_EL0] }));
    const blob = encodeV22({
      cpregIndexes: BigUint64Array.from([SCTLR_EL1]),
      cpregValueIndexes: Uint32Array.from([0]),
      cpregValues: BigUint64Array.from([1n]),
    });
    dest.when({ type: 'LoadBlob', format: 'v22', blob }).refused('blob-rejected', [SCTLR_EL1]);
    // an id above the destination's highest (QEMU 7.2 would ignore it silently)
    const above = encodeV22({
      cpregIndexes: BigUint64Array.from([TPIDR_EL0, 0x603000000013ffffn]),
      cpregValueIndexes: Uint32Array.from([0, 1]),
      cpregValues: new BigUint64Array(2),
    });
    given(created({ type: 'CreateVcpu', accelerator: 'tcg', registers: [TPIDR_EL0, SCTLR_EL1, 0x603000000013c081n] }))
      .when({ type: 'LoadBlob', format: 'v22', blob: above })
      .refused('blob-rejected', [0x603000000013ffffn]);
  });

  test('more incoming registers than the vCPU has: QEMU\'s "Invalid value N expecting positive value <= M"', () => {
    const blob = encodeV22({
      cpregIndexes: BigUint64Array.from([SCTLR_EL1, TPIDR_EL0]),
      cpregValueIndexes: Uint32Array.from([0, 1]),
      cpregValues: new BigUint64Array(2),
    });
    given(created({ type: 'CreateVcpu', accelerator: 'tcg', registers: [TPIDR_EL0] }))
      .when({ type: 'LoadBlob', format: 'v22', blob })
      .refused('blob-rejected', [SCTLR_EL1]);
    expect(() =>
      decide(
        { type: 'LoadBlob', format: 'v22', blob },
        given(created({ type: 'CreateVcpu', accelerator: 'tcg', registers: [TPIDR_EL0] })).state,
      ),
    ).toThrow(/Invalid value 2 expecting positive value <= 1/);
  });

  test('pre-flight warns when a read-only ID register would change', () => {
    const s = given(
      created({ type: 'CreateVcpu', accelerator: 'tcg', registers: [ID_AA64MMFR0_EL1, 0x603000000013d000n] }),
    ).state!;
    const blob = encodeV22({
      cpregIndexes: BigUint64Array.from([ID_AA64MMFR0_EL1, 0x603000000013d000n]),
      cpregValueIndexes: Uint32Array.from([0, 1]),
      cpregValues: BigUint64Array.from([1n, 2n]),
    });
    const plan = checkLoad(s, { format: 'v22', blob });
    expect(plan.warnings.map((w) => w.register)).toEqual([ID_AA64MMFR0_EL1]); // CSSELR (…d000) is writable
  });
});

describe('events and state', () => {
  test('the state is the fold of the events; evolve is pure; codecs round-trip', () => {
    const s0 = foldEvents(undefined, created())!;
    const e1 = decide(
      {
        type: 'WriteRegisters',
        values: [
          [TPIDR_EL0, 1n],
          [FW_U2048, (1n << 2047n) | 3n],
        ],
      },
      s0,
    );
    expect(e1).toHaveLength(1);
    const written = e1[0]!;
    const s1 = evolve(s0, written);
    expect(value(s0, TPIDR_EL0)).toBe(0n); // s0 untouched
    const events = [...created(), ...e1];
    const replayed = foldEvents(
      undefined,
      events.map((e) => {
        const j = JSON.parse(JSON.stringify(serializeEvent(e)));
        return deserializeEvent(j.type, j.schemaVersion, j.data);
      }),
    )!;
    expect(diffStates(s1, replayed)).toEqual([]);
    const snap = JSON.parse(JSON.stringify(serializeState(s1)));
    expect(diffStates(deserializeState(snap.schemaVersion, snap.data), s1)).toEqual([]);
    expect(() => deserializeState(99, snap.data)).toThrow();
    expect(() => deserializeEvent('RegistersWritten', 2, {})).toThrow();
    expect(serializeEvent(written).data).toEqual({
      ids: ['0x603000000013de82', '0x6080000000140100'],
      values: ['0x0000000000000001', '0x8' + '0'.repeat(510) + '3'],
    });
  });

  test('vCPUs with the same list share its ids and value indexes (never their values)', () => {
    const a = foldEvents(undefined, created())!;
    const b = foldEvents(undefined, created())!;
    expect(b.arrays.cpregIndexes).toBe(a.arrays.cpregIndexes);
    expect(b.arrays.cpregValueIndexes).toBe(a.arrays.cpregValueIndexes);
    expect(b.arrays.cpregValues).not.toBe(a.arrays.cpregValues);
    const snap = JSON.parse(JSON.stringify(serializeState(a)));
    const restored = deserializeState(snap.schemaVersion, snap.data);
    expect(restored.arrays.cpregIndexes).toBe(a.arrays.cpregIndexes);
    expect(restored.arrays.cpregValues).not.toBe(a.arrays.cpregValues);
    const other = foldEvents(undefined, created({ ...kvmCreate, registers: [...kernel, FW_U8] }))!;
    expect(other.arrays.cpregIndexes).not.toBe(a.arrays.cpregIndexes);
    expect(other.arrays.cpregIndexes.length).toBe(a.arrays.cpregIndexes.length - 1);
  });

  test('foldEvents does not mutate the state it starts from', () => {
    const s0 = foldEvents(undefined, created())!;
    const s1 = foldEvents(s0, [
      { type: 'SyncedToAccelerator', level: 'runtime', written: { ids: [], values: [] } },
      { type: 'RegistersWritten', written: { ids: [TPIDR_EL0], values: [4n] } },
    ])!;
    expect(value(s0, TPIDR_EL0)).toBe(0n);
    expect(value(s1, TPIDR_EL0)).toBe(4n);
  });

  test('v23 export of a KVM list is byte-stable', () => {
    const s = foldEvents(undefined, created())!;
    expect(Buffer.from(encodeV23(decodeV23(exportBlob(s, 'v23')))).equals(Buffer.from(exportBlob(s, 'v23')))).toBe(
      true,
    );
  });
});

describe('registers by name', () => {
  test('a write by name resolves against the list; unknown and ambiguous names are refused', () => {
    given(created())
      .when({ type: 'WriteRegisters', values: [['tpidr_el0', 6n]] })
      .then((_, s) => expect(value(s, TPIDR_EL0)).toBe(6n));
    given(created())
      .when({ type: 'WriteRegisters', values: [['NO_SUCH_REG', 6n]] })
      .refused('unknown-register');
    // under KVM …df1a is TIMER_CNT, not CNTV_CVAL_EL0
    given(created())
      .when({ type: 'WriteRegisters', values: [['TIMER_CNT', 1n]] })
      .then((_, s) => expect(value(s, KVM_REG_ARM_TIMER_CNT)).toBe(1n));
  });
});
