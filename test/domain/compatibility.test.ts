import fc from 'fast-check';
import {
  fingerprintModels,
  identifyModel,
  predictLoad,
  prepareDestination,
  describeFinding,
  destinationFor,
  writeWarnings,
  asFreshQemuHoldsThem,
  type CompatibilityRule,
  type Destination,
  type LoadVerdict,
} from '../../domain/compatibility';
import { indexOfReg, layoutArrays, writeValueAt, type CpregArrays } from '../../domain/cpreg-arrays';
import {
  decodeModel,
  findRegisterModel,
  registerModelFor,
  registerModels,
  type RegisterModel,
} from '../../domain/register-model';

/**
 * The verdict rules, given a destination (its list, values and register model), when a list with
 * values is loaded, then QEMU's predicted verdict. The synthetic model below is written in the
 * generated format (id,keep,reset[,flags]); the real models come from domain/register-model.
 */
const TPIDRURW = 0x40200000200f6802n; // U32, low half of TPIDR_EL0's state
const DFAR = 0x40200000200f3000n; // U32, low half of FAR_EL1
const IFAR = 0x40200000200f3002n; // U32, high half of FAR_EL1
const CSSELR = 0x603000000013d000n; // keeps bits 0-3
const ID_AA64MMFR0 = 0x603000000013c038n; // constant
const SCTLR = 0x603000000013c080n; // writable, non-zero reset
const FAR_EL1 = 0x603000000013c300n;
const TPIDR_EL0 = 0x603000000013de82n;
const CONTEXTIDR = 0x603000000013c681n; // writable
const DERIVED = 0x603000000013ff00n; // a made-up constant whose value follows CONTEXTIDR's (its writer is lower)

const h = (x: bigint): string => x.toString(16);
const SYNTHETIC = decodeModel({
  qemu: '7.2',
  binary: 'qemu-system-aarch64',
  cpu: 'synthetic',
  machine: 'virt',
  machineType: 'virt-7.2',
  regs: [
    `${h(DFAR)},L,0,o${h(FAR_EL1)}:0:ffffffff`,
    `${h(IFAR)},L,0,o${h(FAR_EL1)}:32:ffffffff`,
    `${h(TPIDRURW)},L,0,o${h(TPIDR_EL0)}:0:ffffffff`,
    `${h(ID_AA64MMFR0)},,1124`,
    `${h(SCTLR)},F,c50838`,
    `${h(FAR_EL1)},F,0`,
    `${h(CONTEXTIDR)},F,0`,
    `${h(CSSELR)},f,0`,
    `${h(TPIDR_EL0)},F,0`,
    `${h(DERIVED)},,0,o${h(CONTEXTIDR)}:0:ffffffffffffffff`,
  ].join(' '),
});

/** Arrays of `ids` (ascending) with `values` (default: the model's reset values). */
function arrays(ids: readonly bigint[], values: (id: bigint) => bigint): CpregArrays {
  const a = layoutArrays(BigUint64Array.from(ids));
  ids.forEach((id, i) => writeValueAt(a, i, values(id)));
  return a;
}
const resetOf = (m: RegisterModel) => (id: bigint) => m.fact(id)?.reset ?? 0n;
const own = (m: RegisterModel): CpregArrays => arrays([...m.ids], resetOf(m));

/** given a destination, when a list is loaded, then the verdict. */
function given(destination: Destination) {
  return {
    when: (incoming: CpregArrays) => {
      const v = predictLoad(incoming, destination);
      return {
        verdict: v,
        then: (verdict: LoadVerdict['verdict'], check?: (v: LoadVerdict) => void) => {
          expect(v.verdict).toBe(verdict);
          check?.(v);
        },
      };
    },
  };
}
/** The destination's own values, with some changed (and some registers left out). */
function patched(base: CpregArrays, changes: Record<string, bigint>, drop: bigint[] = []): CpregArrays {
  const ids = [...base.cpregIndexes].filter((id) => !drop.includes(id));
  return arrays(ids, (id) => {
    const key = '0x' + id.toString(16);
    return key in changes ? changes[key]! : base.cpregValues[[...base.cpregIndexes].indexOf(id)]!;
  });
}
const key = (id: bigint): string => '0x' + id.toString(16);
const rules = (fs: readonly { rule: CompatibilityRule }[]) => fs.map((f) => f.rule);
const ids = (v: LoadVerdict, rule: CompatibilityRule, where: 'reasons' | 'warnings' = 'reasons') =>
  v[where].find((f) => f.rule === rule)?.registers.map((r) => r.id) ?? [];

const tcg = (model?: RegisterModel, base?: CpregArrays): Destination => ({
  accelerator: 'tcg',
  arrays: base ?? own(model ?? SYNTHETIC),
  ...(model ? { model } : {}),
});

describe('predictLoad: a writer with any shift and cover', () => {
  // A (written first) and B (after it), whose write sets A's bits `cover` to B's value shifted
  // right by `shift` (left when negative), within 64 bits.
  const A = 0x603000000013ff20n;
  const B = 0x603000000013ff28n;
  const M64 = (1n << 64n) - 1n;
  const u64 = fc.bigInt({ min: 0n, max: M64 });
  const shr = (x: bigint, s: number) => (s >= 0 ? x >> BigInt(s) : x << BigInt(-s)) & M64;

  it('given A and B set, then A becomes what B writes into it (overwritten-on-load), or keeps its value', () => {
    fc.assert(
      fc.property(fc.integer({ min: -70, max: 70 }), u64, u64, u64, (shift, cover, a, b) => {
        const model = decodeModel({
          qemu: '7.2',
          binary: 'qemu-system-aarch64',
          cpu: 'synthetic',
          machine: 'virt',
          machineType: 'virt-7.2',
          regs: `${h(A)},F,0,o${h(B)}:${shift}:${h(cover)} ${h(B)},F,0`,
        });
        const dest = tcg(model);
        const v = predictLoad(patched(dest.arrays, { [key(A)]: a, [key(B)]: b }), dest);
        const becomes = (a & ~cover) | (shr(b, shift) & cover);
        const over = v.warnings.filter((f) => f.rule === 'overwritten-on-load');
        if (becomes === a) expect(over).toEqual([]);
        else
          expect(over[0]!.registers).toEqual([
            { id: A, incoming: a, destination: 0n, by: B, becomes, basis: 'measured' },
          ]);
      }),
      { numRuns: 500 },
    );
  });
});

describe('predictLoad: TCG destination with a measured model', () => {
  const dest = tcg(SYNTHETIC);
  const base = dest.arrays;

  it('given its own list and values, when loaded, then accepted without warnings', () => {
    given(dest)
      .when(own(SYNTHETIC))
      .then('accepted', (v) => {
        expect(v.reasons).toEqual([]);
        expect(v.warnings).toEqual([]);
      });
  });

  it('given a list with more registers, then refused: more-registers with both counts', () => {
    const bigger = arrays([...base.cpregIndexes, 0x603000000013ff10n], resetOf(SYNTHETIC));
    given(dest)
      .when(bigger)
      .then('refused', (v) => {
        expect(v.reasons[0]).toMatchObject({ rule: 'more-registers', incomingCount: 11, destinationCount: 10 });
        expect(v.reasons[0]!.message).toContain('Invalid value 11 expecting positive value <= 10');
      });
  });

  it('given an id the destination lacks below its highest id, then refused: unknown-register', () => {
    const other = 0x603000000013c090n;
    const list = [...base.cpregIndexes]
      .filter((id) => id !== SCTLR)
      .concat([other])
      .sort((a, b) => (a < b ? -1 : 1));
    given(dest)
      .when(arrays(list, resetOf(SYNTHETIC)))
      .then('refused', (v) => {
        expect(rules(v.reasons)).toEqual(['unknown-register']);
        expect(ids(v, 'unknown-register')).toEqual([other]);
      });
  });

  it('given an id above the destination highest id (same count), then accepted: QEMU ignores it (ignored-register)', () => {
    const list = [...base.cpregIndexes].filter((id) => id !== SCTLR).concat([0x603000000013ffffn]);
    given(dest)
      .when(arrays(list, (id) => (id === 0x603000000013ffffn ? 7n : resetOf(SYNTHETIC)(id))))
      .then('accepted', (v) => {
        expect(ids(v, 'ignored-register', 'warnings')).toEqual([0x603000000013ffffn]);
        // SCTLR is missing from the stream: a fresh TCG destination writes 0 into it.
        expect(v.warnings.find((f) => f.rule === 'missing-register')!.registers[0]).toMatchObject({
          id: SCTLR,
          destination: 0xc50838n,
          becomes: 0n,
        });
      });
  });

  it('given a constant that differs, then refused: constant-differs with both values', () => {
    given(dest)
      .when(patched(base, { [key(ID_AA64MMFR0)]: 0n }))
      .then('refused', (v) => {
        expect(rules(v.reasons)).toEqual(['constant-differs']);
        expect(v.reasons[0]!.registers).toEqual([
          { id: ID_AA64MMFR0, incoming: 0n, destination: 0x1124n, keeps: 0n, becomes: 0x1124n, basis: 'measured' },
        ]);
      });
  });

  it('given bits a register does not keep, then refused: bits-not-kept with the mask it keeps', () => {
    given(dest)
      .when(patched(base, { [key(CSSELR)]: 0x12n }))
      .then('refused', (v) => {
        expect(v.reasons[0]!.rule).toBe('bits-not-kept');
        expect(v.reasons[0]!.registers[0]).toMatchObject({ id: CSSELR, incoming: 0x12n, keeps: 0xfn, becomes: 0x2n });
      });
    given(dest)
      .when(patched(base, { [key(CSSELR)]: 0x3n }))
      .then('accepted');
  });

  it('given upper bits in a writable 32-bit register, then refused: bits-not-kept', () => {
    given(dest)
      .when(patched(base, { [key(TPIDRURW)]: 0x1_0000_0000n, [key(TPIDR_EL0)]: 0n }))
      .then('refused', (v) => expect(ids(v, 'bits-not-kept')).toEqual([TPIDRURW]));
  });

  it('given TPIDRURW changed alone, then accepted with overwritten-on-load: it becomes the low half of TPIDR_EL0', () => {
    const t = 0x1122334455667788n;
    given(dest)
      .when(patched(base, { [key(TPIDRURW)]: 0xdeadbeefn, [key(TPIDR_EL0)]: t }))
      .then('accepted', (v) => {
        expect(v.warnings.find((f) => f.rule === 'overwritten-on-load')!.registers).toEqual([
          {
            id: TPIDRURW,
            incoming: 0xdeadbeefn,
            destination: 0n,
            by: TPIDR_EL0,
            becomes: 0x55667788n,
            basis: 'measured',
          },
        ]);
      });
  });

  it('given TPIDRURW and TPIDR_EL0 set consistently, then accepted without warnings', () => {
    given(dest)
      .when(patched(base, { [key(TPIDRURW)]: 0x55667788n, [key(TPIDR_EL0)]: 0x1122334455667788n }))
      .then('accepted', (v) => expect(v.warnings).toEqual([]));
  });

  it('given IFAR set alone, then it becomes the high half of FAR_EL1 (a shifted writer)', () => {
    given(dest)
      .when(patched(base, { [key(IFAR)]: 0x1234n, [key(FAR_EL1)]: 0xaaaa0000bbbb0000n }))
      .then('accepted', (v) => {
        const regs = v.warnings.find((f) => f.rule === 'overwritten-on-load')!.registers;
        expect(regs.map((r) => [r.id, r.becomes])).toEqual([
          [DFAR, 0xbbbb0000n],
          [IFAR, 0xaaaa0000n],
        ]);
      });
  });

  it('given a derived constant (its writer is lower), then it must equal what the writer makes of it', () => {
    // DERIVED reads CONTEXTIDR's state and is written after it: a stream must carry the value that
    // CONTEXTIDR's write leaves there, not the destination's old one.
    given(dest)
      .when(patched(base, { [key(CONTEXTIDR)]: 5n, [key(DERIVED)]: 5n }))
      .then('accepted');
    given(dest)
      .when(patched(base, { [key(CONTEXTIDR)]: 5n }))
      .then('refused', (v) => {
        expect(v.reasons[0]!.registers[0]).toMatchObject({ id: DERIVED, incoming: 0n, destination: 5n });
      });
  });

  it('given a non-zero constant missing from the stream, then refused: missing-register (written as 0)', () => {
    given(dest)
      .when(patched(base, {}, [ID_AA64MMFR0]))
      .then('refused', (v) => {
        expect(rules(v.reasons)).toEqual(['missing-register']);
        expect(v.reasons[0]!.registers[0]).toMatchObject({ id: ID_AA64MMFR0, incoming: 0n, destination: 0x1124n });
      });
  });

  it('given every reason at once, then they are listed in the order QEMU checks them', () => {
    const list = [...base.cpregIndexes, 0x603000000013ff10n, 0x603000000013ff20n, 0x4020000000000001n].sort((a, b) =>
      a < b ? -1 : 1,
    );
    const v = predictLoad(
      arrays(list, (id) => (id === ID_AA64MMFR0 ? 1n : id === CSSELR ? 0x100n : 0n)),
      dest,
    );
    expect(v.verdict).toBe('refused');
    expect(rules(v.reasons)).toEqual(['more-registers', 'unknown-register', 'constant-differs', 'bits-not-kept']);
  });
});

describe('predictLoad: without a model, and KVM destinations', () => {
  const list = [TPIDRURW, ID_AA64MMFR0, SCTLR, CSSELR];
  const base = arrays(list, (id) => (id === ID_AA64MMFR0 ? 0x1124n : 0n));

  it('given a TCG destination without a model, then the structural rules apply (basis "rule")', () => {
    const d: Destination = { accelerator: 'tcg', arrays: base };
    given(d)
      .when(patched(base, { [key(ID_AA64MMFR0)]: 0n, [key(SCTLR)]: 0xffffn, [key(TPIDRURW)]: 0x1_0000_0001n }))
      .then('refused', (v) => {
        expect(v.reasons.map((f) => [f.rule, f.registers.map((r) => [r.id, r.basis])])).toEqual([
          ['constant-differs', [[ID_AA64MMFR0, 'rule']]],
          ['bits-not-kept', [[TPIDRURW, 'rule']]],
        ]);
      });
  });

  it('given a KVM destination, then only ID registers are checked and a missing register keeps its value', () => {
    const d: Destination = { accelerator: 'kvm', arrays: base };
    given(d)
      .when(patched(base, { [key(SCTLR)]: 0xffffn, [key(TPIDRURW)]: 0x1_0000_0001n }, [ID_AA64MMFR0]))
      .then('accepted', (v) => {
        expect(v.warnings).toEqual([]);
      });
    given(d)
      .when(patched(base, { [key(ID_AA64MMFR0)]: 0x1125n }))
      .then('refused', (v) => expect(ids(v, 'constant-differs')).toEqual([ID_AA64MMFR0]));
  });

  it("given a KVM destination with the kernel's writable masks, then the masked fields may differ", () => {
    const d: Destination = { accelerator: 'kvm', arrays: base, writableMasks: new Map([[ID_AA64MMFR0, 0xf0n]]) };
    given(d)
      .when(patched(base, { [key(ID_AA64MMFR0)]: 0x1104n }))
      .then('accepted');
    given(d)
      .when(patched(base, { [key(ID_AA64MMFR0)]: 0x1125n }))
      .then('refused', (v) => {
        expect(v.reasons[0]!.registers[0]).toMatchObject({
          id: ID_AA64MMFR0,
          keeps: 0xf0n,
          basis: 'kvm-writable-mask',
        });
      });
  });
});

/** Register writes as writeWarnings takes them (two parallel arrays). */
const writes = (w: Array<{ id: bigint; value: bigint }>) => ({
  ids: w.map((x) => x.id),
  values: w.map((x) => x.value),
});

describe('writeWarnings: a PUT/PATCH on the vCPU’s own QEMU', () => {
  const vcpu = { accelerator: 'tcg' as const, arrays: own(SYNTHETIC), model: SYNTHETIC };

  it('warns for a constant set to another value, bits not kept and a value QEMU will overwrite', () => {
    const w = writeWarnings(
      vcpu,
      writes([
        { id: ID_AA64MMFR0, value: 0n },
        { id: CSSELR, value: 0x10n },
        { id: TPIDRURW, value: 0x1234n },
        { id: SCTLR, value: 0x30d5198dn },
      ]),
    );
    expect(w.map((f) => [f.rule, f.registers.map((r) => r.id)])).toEqual([
      ['constant-differs', [ID_AA64MMFR0]],
      ['bits-not-kept', [CSSELR]],
      ['overwritten-on-load', [TPIDRURW]],
    ]);
    expect(w[2]!.registers[0]).toMatchObject({ by: TPIDR_EL0, becomes: 0n });
  });

  it('gives nothing for writable values, or TPIDRURW written together with TPIDR_EL0', () => {
    expect(writeWarnings(vcpu, writes([{ id: SCTLR, value: 0n }]))).toEqual([]);
    expect(
      writeWarnings(
        vcpu,
        writes([
          { id: TPIDRURW, value: 0x9abcdef0n },
          { id: TPIDR_EL0, value: 0x123456789abcdef0n },
        ]),
      ),
    ).toEqual([]);
  });

  it('names only the written registers (not the ones a write changes as a consequence)', () => {
    // TPIDR_EL0 written alone changes TPIDRURW's state too: that is expected, not a warning.
    expect(writeWarnings(vcpu, writes([{ id: TPIDR_EL0, value: 0x42n }]))).toEqual([]);
  });
});

describe('properties', () => {
  const dest = tcg(SYNTHETIC);
  const prepared = prepareDestination(dest);
  const base = dest.arrays;
  const n = base.cpregIndexes.length;
  /** Registers no other register writes, and whose writes change no other register. */
  const free = SYNTHETIC.facts.filter(
    (f) => f.writers.length === 0 && !SYNTHETIC.facts.some((g) => g.writers.some((w) => w.by === f.id)),
  );

  it('changes within kept bits of registers nobody overwrites are accepted without warnings', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: free.length - 1 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }))),
        (changes) => {
          const values: Record<string, bigint> = {};
          for (const [k, x] of changes) {
            const f = free[k]!;
            values[key(f.id)] = (f.reset & ~f.keep) | (x & f.keep);
          }
          const v = predictLoad(patched(base, values), prepared);
          return v.verdict === 'accepted' && v.warnings.length === 0;
        },
      ),
    );
  });

  it('a bit outside a register’s kept bits refuses the load, naming exactly that register', () => {
    const fixed = SYNTHETIC.facts.filter((f) => f.keep !== (1n << 64n) - 1n && f.writers.every((w) => w.by > f.id));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: fixed.length - 1 }), fc.integer({ min: 0, max: 63 }), (k, bit) => {
        const f = fixed[k]!;
        const outside = ~f.keep & ((1n << 64n) - 1n);
        const candidates = [...Array(64).keys()].filter((b) => (outside >> BigInt(b)) & 1n);
        const b = candidates[bit % candidates.length]!;
        const v = predictLoad(patched(base, { [key(f.id)]: f.reset ^ (1n << BigInt(b)) }), prepared);
        const named = v.reasons.flatMap((r) => r.registers.map((x) => x.id));
        return v.verdict === 'refused' && named.length === 1 && named[0] === f.id;
      }),
    );
  });

  it('the verdict is refused exactly when there are reasons; registers of a finding ascend', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: n - 1 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), {
          maxLength: 6,
        }),
        (changes) => {
          const values: Record<string, bigint> = {};
          for (const [k, x] of changes) values[key(base.cpregIndexes[k]!)] = x;
          const v = predictLoad(patched(base, values), prepared);
          const ascending = [...v.reasons, ...v.warnings].every((f) =>
            f.registers.every((r, i, all) => i === 0 || all[i - 1]!.id < r.id),
          );
          return (v.verdict === 'refused') === v.reasons.length > 0 && ascending;
        },
      ),
    );
  });
});

describe('the measured models (domain/register-model)', () => {
  it('every model accepts its own reset values without warnings, and is fingerprinted as itself', () => {
    const models = registerModels();
    expect(models.length).toBeGreaterThan(0);
    for (const m of models) {
      const v = predictLoad(own(m), { accelerator: 'tcg', arrays: own(m), model: m });
      expect({ model: `${m.qemu} ${m.binary} ${m.cpu} ${m.machine}`, ...v }).toEqual({
        model: `${m.qemu} ${m.binary} ${m.cpu} ${m.machine}`,
        verdict: 'accepted',
        reasons: [],
        warnings: [],
      });
      expect(fingerprintModels(own(m), { qemu: m.qemu }).map((x) => x.cpu)).toContain(m.cpu);
    }
  });

  it('QEMU 7.2 max: ID_AA64MMFR0_EL1 is a constant, TPIDR_EL0 keeps every bit, TPIDRURW is overwritten by it', () => {
    const m = findRegisterModel({ qemu: '7.2', cpu: 'max' })!;
    expect(m).toBeDefined();
    expect(m.fact(ID_AA64MMFR0)).toMatchObject({ kind: 'constant', keep: 0n });
    expect(m.fact(TPIDR_EL0)).toMatchObject({ kind: 'writable', keep: (1n << 64n) - 1n });
    expect(m.fact(TPIDRURW)).toMatchObject({ kind: 'overwritten', keep: 0xffffffffn });
    expect(m.fact(TPIDRURW)!.writers.map((w) => w.by)).toContain(TPIDR_EL0);
  });
});

describe('matrix helpers', () => {
  it('maxRegistersPerFinding cuts the lists short, count still says how many', () => {
    const base = own(SYNTHETIC);
    const v = predictLoad(patched(base, { [key(ID_AA64MMFR0)]: 0n, [key(DERIVED)]: 9n }), tcg(SYNTHETIC), {
      maxRegistersPerFinding: 1,
    });
    expect(v.reasons.map((f) => [f.rule, f.count, f.registers.length])).toEqual([['constant-differs', 2, 1]]);
  });

  it('registerModelFor: a CPU with options takes its model, ids its list lacks from its siblings', () => {
    const m = registerModelFor({ qemu: '7.2', cpu: 'max,pauth=off' });
    expect(m?.cpu).toBe('max');
    expect(registerModelFor({ qemu: '7.2', cpu: 'no-such-cpu' })).toBeUndefined();
  });

  it('describeFinding prints the rule and each register', () => {
    const v = predictLoad(patched(own(SYNTHETIC), { [key(CSSELR)]: 0x10n }), tcg(SYNTHETIC));
    expect(describeFinding(v.reasons[0]!)).toBe(
      'bits-not-kept: 1 register carries bits the destination does not keep: QEMU refuses the stream — ' +
        '0x603000000013d000 incoming 0x10 destination 0x0 keeps 0xf',
    );
  });
});

describe('destinationFor: a host profile as a destination', () => {
  it('TCG with QEMU version and CPU model takes the measured model; a list no model is near, the rules; KVM its masks', () => {
    const m = findRegisterModel({ qemu: '10.0', cpu: 'cortex-a57' })!;
    const a = own(m);
    const tcgHost = destinationFor({ accelerator: 'tcg', arrays: a, qemu: '10.0', cpuModel: 'cortex-a57' });
    expect(tcgHost.accelerator !== 'kvm' && tcgHost.model?.cpu).toBe('cortex-a57');
    expect(predictLoad(a, tcgHost).verdict).toBe('accepted');
    const tiny = destinationFor({ accelerator: 'tcg', arrays: arrays([TPIDR_EL0, ID_AA64MMFR0], () => 0n) });
    expect(tiny.accelerator !== 'kvm' && tiny.model).toBeUndefined();
    const masks = new Map([[ID_AA64MMFR0, 0xfn]]);
    expect(destinationFor({ accelerator: 'kvm', arrays: a, writableMasks: masks })).toEqual({
      accelerator: 'kvm',
      arrays: a,
      writableMasks: masks,
    });
  });
});

describe('identifyModel: which measured model a list comes from', () => {
  it('given a measured list, then its model; with options, the variant its ids show; a list no model has, the nearest', () => {
    for (const m of registerModels()) {
      const found = identifyModel(own(m))!;
      // lists measured twice (e.g. 10.0's -M virt and -M virt-7.2) may give either: the same facts
      expect(found.ids).toEqual(m.ids);
      expect(found.qemu).toBe(m.qemu);
    }
    const max = findRegisterModel({ qemu: '10.0', cpu: 'max' })!;
    // max,pauth=off: a few registers fewer; no model has that list, max's is nearest
    const fewer = [...max.ids].filter((_, i) => i % 50 !== 7);
    const near = identifyModel(arrays(fewer, resetOf(max)))!;
    expect([near.qemu, near.cpu, near.machine]).toEqual(['10.0', 'max', 'virt']);
    // a list sharing little with any model: none
    expect(identifyModel(arrays([TPIDR_EL0, ID_AA64MMFR0], () => 0n))).toBeUndefined();
    // given its QEMU and CPU model, the machine options its ids show
    const secure = findRegisterModel({ qemu: '7.2', cpu: 'cortex-a57', machine: 'virt,secure=on' })!;
    const withOpts = identifyModel(arrays([...secure.ids].slice(1), resetOf(secure)), {
      qemu: '7.2',
      cpu: 'cortex-a57',
    })!;
    expect(withOpts.machine).toBe('virt,secure=on');
  });
});

describe('writeWarnings names and counts the written registers only, capped', () => {
  // The warnings as they were first written: the whole verdict, then each finding filtered to the
  // written registers (the oracle for predictLoad's `only` and the cap).
  function oracle(vcpu: { accelerator: 'tcg'; arrays: CpregArrays; model: RegisterModel }, writes: [bigint, bigint][]) {
    const held = asFreshQemuHoldsThem(vcpu.arrays, vcpu.model);
    const next = { ...held, cpregValues: held.cpregValues.slice() };
    const written = new Set<bigint>();
    for (const [id, value] of writes) {
      writeValueAt(next, indexOfReg(next, id), value);
      written.add(id);
    }
    const v = predictLoad(next, { accelerator: 'tcg', arrays: held, model: vcpu.model });
    return [...v.reasons, ...v.warnings]
      .filter((f) => ['constant-differs', 'bits-not-kept', 'overwritten-on-load'].includes(f.rule))
      .map((f) => ({ rule: f.rule, regs: f.registers.filter((r) => written.has(r.id)) }))
      .filter((f) => f.regs.length > 0);
  }

  const m = findRegisterModel({ qemu: '7.2', cpu: 'max' })!;
  const vcpu = { accelerator: 'tcg' as const, arrays: own(m), model: m };
  const ids = [...m.ids];

  it('equals the unrestricted verdict filtered to the writes, each finding capped with its count', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.nat(ids.length - 1), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), {
          selector: ([i]) => i,
          maxLength: 120,
        }),
        fc.integer({ min: 1, max: 20 }),
        fc.boolean(),
        (picked, cap, ascending) => {
          const writes = picked.map(([i, v]): [bigint, bigint] => [
            ids[i]!,
            ((ids[i]! >> 52n) & 0xfn) === 2n ? v & 0xffffffffn : v,
          ]);
          if (ascending) writes.sort((a, b) => (a[0] < b[0] ? -1 : 1));
          const want = oracle(vcpu, writes);
          const got = writeWarnings(
            vcpu,
            { ids: writes.map((w) => w[0]), values: writes.map((w) => w[1]) },
            { maxRegistersPerFinding: cap },
          );
          expect(got.map((f) => [f.rule, f.count, f.registers])).toEqual(
            want.map((f) => [f.rule, f.regs.length, f.regs.slice(0, cap)]),
          );
        },
      ),
      { numRuns: 150 },
    );
  });
});
