import * as fs from 'fs';
import * as path from 'path';
import { findRegisterByName, genericName, hasRealName, registerName } from '../../domain/names';
import { isDomainError } from '../../domain/errors';
import { aarch32Id, sysregId } from '../../domain/regid';

interface TcgLists {
  ids: string[];
  lists: Record<string, number[]>;
}
const fixture: TcgLists = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/names/tcg-lists.json'), 'utf8'));
const tcgLists: [string, bigint[]][] = Object.entries(fixture.lists).map(([k, ix]) => [
  k,
  ix.map((i) => BigInt(fixture.ids[i])),
]);
const list = (key: string): bigint[] => {
  const l = tcgLists.find(([k]) => k === key);
  if (!l) throw new Error(`no list ${key}`);
  return l[1];
};
const MAX = 'qemu-system-aarch64 -M virt -cpu max';

function domainError(fn: () => unknown): { kind: string; registers: readonly bigint[] } {
  try {
    fn();
  } catch (e) {
    if (isDomainError(e)) return e;
    throw e;
  }
  throw new Error('expected a DomainError');
}

describe('names of every id of real QEMU 7.2 TCG lists', () => {
  it('has the lists of every -M virt CPU model of both binaries', () => {
    expect(tcgLists.length).toBe(52);
    expect(list(MAX)).toHaveLength(304);
    expect(list('qemu-system-aarch64 -M virt -cpu cortex-a57')).toHaveLength(258);
    expect(list('qemu-system-aarch64 -M virt -cpu cortex-a15')).toHaveLength(197);
  });

  it.each(tcgLists)('%s: every id has a real name, unique in the list', (_key, ids) => {
    expect(ids.filter((id) => !hasRealName(id, 'tcg'))).toEqual([]);
    // Unique, so every register of the list can be looked up by its name.
    const names = ids.map((id) => registerName(id, 'tcg').toUpperCase());
    expect(new Set(names).size).toBe(ids.length);
    for (const id of ids) expect(findRegisterByName(registerName(id, 'tcg'), 'tcg', ids)).toBe(id);
  });

  it("keeps QEMU's labels for the reserved ID encodings it migrates", () => {
    expect(list(MAX)).toContain(0x603000000013c01bn);
    expect(registerName(0x603000000013c01bn, 'tcg')).toBe('RES_0_C0_C3_3');
    expect(registerName(0x603000000013c023n, 'tcg')).toBe('ID_AA64PFR3_EL1_RESERVED');
    expect(registerName(0x40200000200f0400n, 'tcg')).toBe('RES_0_C0_C8_X');
    expect(registerName(0x40200000000f0183n, 'tcg')).toBe('RES_0_C0_C3_3_S');
  });
});

describe('known names', () => {
  it.each([
    [0x603000000013de82n, 'TPIDR_EL0'],
    [0x603000000013c080n, 'SCTLR_EL1'],
    [0x603000000013df00n, 'CNTFRQ_EL0'],
    [0x40200000200e0000n, 'DBGDIDR'],
    [0x40200000000f6800n, 'FCSEIDR_S'],
    [0x40200000200f6800n, 'FCSEIDR'],
    [0x40200000200f6802n, 'TPIDRURW'],
    [0x40200000000f6802n, 'TPIDRURW_S'],
    [0x6030000000138004n, 'DBGBVR0_EL1'],
    [0x40200000200e0004n, 'DBGBVR0_EL1 (AArch32)'],
    [0x603000000013dce8n, 'PMCCNTR_EL0'],
    [0x603000000013df1an, 'CNTV_CVAL_EL0'],
  ])('%s is %s under TCG', (id, name) => {
    expect(registerName(id, 'tcg')).toBe(name);
    expect(hasRealName(id, 'tcg')).toBe(true);
  });

  it('names the cortex-a57 implementation-defined registers', () => {
    const a57 = list('qemu-system-aarch64 -M virt -cpu cortex-a57');
    const names = a57.map((id) => registerName(id, 'tcg'));
    expect(names).toEqual(
      expect.arrayContaining(['L2CTLR_EL1', 'L2ECTLR_EL1', 'CPUACTLR_EL1', 'TPIDR_EL0', 'TPIDRURW']),
    );
    expect(registerName(0x603000000013cd82n, 'tcg')).toBe('L2CTLR_EL1'); // (3,1,11,0,2)
  });

  it('names a 64-bit AArch32 register apart from its 32-bit accessor', () => {
    expect(registerName(0x40200000200f3a00n, 'tcg')).toBe('PAR'); // p15 0 c7 c4 0
    expect(registerName(0x40300000200f0380n, 'tcg')).toBe('PAR (64-bit)'); // p15 0 c7
  });
});

describe('names that depend on the accelerator', () => {
  it('0x603000000013df1a is KVM_REG_ARM_TIMER_CNT under KVM, CNTV_CVAL_EL0 otherwise', () => {
    expect(registerName(0x603000000013df1an, 'kvm')).toBe('TIMER_CNT');
    expect(registerName(0x603000000013df1an, 'tcg')).toBe('CNTV_CVAL_EL0');
    expect(registerName(0x603000000013df1an, 'hvf')).toBe('CNTV_CVAL_EL0');
  });

  it.each([
    [0x603000000013df02n, 'TIMER_CVAL', 'CNTVCT_EL0'],
    [0x603000000013df19n, 'TIMER_CTL', 'CNTV_CTL_EL0'],
    [0x603000000013df01n, 'PTIMER_CNT', 'CNTPCT_EL0'],
    [0x603000000013df11n, 'PTIMER_CTL', 'CNTP_CTL_EL0'],
    [0x603000000013df12n, 'PTIMER_CVAL', 'CNTP_CVAL_EL0'],
  ])('%s is %s under KVM and %s under TCG', (id, kvm, tcg) => {
    expect(registerName(id, 'kvm')).toBe(kvm);
    expect(registerName(id, 'tcg')).toBe(tcg);
  });
});

describe('KVM specials', () => {
  it.each([
    [0x6030000000140000n, 'PSCI_VERSION'],
    [0x6030000000140001n, 'SMCCC_ARCH_WORKAROUND_1'],
    [0x6030000000140002n, 'SMCCC_ARCH_WORKAROUND_2'],
    [0x6030000000140003n, 'SMCCC_ARCH_WORKAROUND_3'],
    [0x6030000000160000n, 'STD_BMAP'],
    [0x6030000000160001n, 'STD_HYP_BMAP'],
    [0x6030000000160002n, 'VENDOR_HYP_BMAP'],
    [0x6030000000160003n, 'VENDOR_HYP_BMAP_2'],
    [0x6020000000110000n, 'DEMUX_CCSIDR_0'],
    [0x6020000000110003n, 'DEMUX_CCSIDR_3'],
    [0x6030000000100000n, 'X0'],
    [0x603000000010003cn, 'X30'],
    [0x603000000010003en, 'SP'],
    [0x6030000000100048n, 'SPSR_SVC'],
    [0x6040000000100054n, 'V0'],
    [0x60400000001000d0n, 'V31'],
    [0x60200000001000d4n, 'FPSR'],
    [0x6080000000150000n, 'Z0'],
    [0x60800000001503e0n, 'Z31'],
    [0x6050000000150400n, 'P0'],
    [0x60500000001505e0n, 'P15'],
    [0x6050000000150600n, 'FFR'],
    [0x606000000015ffffn, 'SVE_VLS'],
  ])('%s is %s', (id, name) => {
    expect(registerName(id, 'kvm')).toBe(name);
    expect(hasRealName(id, 'kvm')).toBe(true);
  });

  it('gives unknown KVM numbers class-based generic names', () => {
    expect(registerName(0x6030000000140007n, 'kvm')).toBe('FW_REG_7');
    expect(hasRealName(0x6030000000140007n, 'kvm')).toBe(false);
    expect(registerName(0x6030000000160009n, 'kvm')).toBe('FW_FEAT_BMAP_REG_9');
    expect(registerName(0x6030000000170001n, 'kvm')).toBe('CLASS_0x0017_0x0001');
    // The right number with the wrong size is not that register.
    expect(hasRealName(0x6030000000110000n, 'kvm')).toBe(false);
  });
});

describe('generic forms', () => {
  it('AArch64: S<op0>_<op1>_C<n>_C<m>_<op2>', () => {
    const id = sysregId({ op0: 3, op1: 0, crn: 0, crm: 0, op2: 7 }); // unallocated, unnamed by QEMU
    for (const acc of ['kvm', 'tcg', 'hvf'] as const) {
      expect(registerName(id, acc)).toBe('S3_0_C0_C0_7');
      expect(hasRealName(id, acc)).toBe(false);
    }
    expect(registerName(0x603000000013f7ffn, 'tcg')).toBe('S3_6_C15_C15_7');
    expect(genericName(0x603000000013de82n)).toBe('S3_3_C13_C0_2');
  });

  it('AArch32 with and without the NS bit, 32- and 64-bit', () => {
    const f = { cp: 15, opc1: 7, crn: 15, crm: 14, opc2: 6, is64: false, ns: false };
    expect(hasRealName(aarch32Id(f), 'tcg')).toBe(false);
    expect(registerName(aarch32Id(f), 'tcg')).toBe('p15 7 c15 c14 6');
    expect(registerName(aarch32Id({ ...f, ns: true }), 'tcg')).toBe('p15 7 c15 c14 6 (NS)');
    const f64 = { cp: 15, opc1: 7, crn: 0, crm: 15, opc2: 0, is64: true, ns: true };
    expect(hasRealName(aarch32Id(f64), 'tcg')).toBe(false);
    expect(registerName(aarch32Id(f64), 'tcg')).toBe('p15 7 c15 (NS)');
    expect(genericName(0x40200000200e0000n)).toBe('p14 0 c0 c0 0 (NS)');
    expect(genericName(0x40200000000f6800n)).toBe('p15 0 c13 c0 0');
  });
});

describe('findRegisterByName', () => {
  const max = list(MAX);

  it('finds real names, case-insensitively', () => {
    expect(findRegisterByName('TPIDR_EL0', 'tcg', max)).toBe(0x603000000013de82n);
    expect(findRegisterByName('tpidr_el0', 'tcg', max)).toBe(0x603000000013de82n);
    expect(findRegisterByName('  dbgdidr ', 'tcg', max)).toBe(0x40200000200e0000n);
    expect(findRegisterByName('fcseidr_s', 'tcg', max)).toBe(0x40200000000f6800n);
    expect(findRegisterByName('DBGBVR0_EL1', 'tcg', max)).toBe(0x6030000000138004n);
    expect(findRegisterByName('dbgbvr0_el1 (aarch32)', 'tcg', max)).toBe(0x40200000200e0004n);
  });

  it('accepts generic forms, also of registers that have a real name', () => {
    expect(findRegisterByName('S3_3_C13_C0_2', 'tcg', max)).toBe(0x603000000013de82n);
    expect(findRegisterByName('s3_0_c0_c3_3', 'tcg', max)).toBe(0x603000000013c01bn);
    expect(findRegisterByName('S3_0_C0_C0_7', 'kvm', [0x603000000013c007n, 0x603000000013c000n])).toBe(
      0x603000000013c007n,
    );
    expect(findRegisterByName('p14 0 c0 c0 0 (NS)', 'tcg', max)).toBe(0x40200000200e0000n);
    expect(findRegisterByName('P15 0 C13 C0 0', 'tcg', max)).toBe(0x40200000000f6800n);
    expect(findRegisterByName('p15 0 c0 c3 3 (ns)', 'tcg', max)).toBe(0x40200000200f0183n);
  });

  it('resolves by the accelerator', () => {
    const ids = [0x603000000013df1an, 0x603000000013df19n];
    expect(findRegisterByName('TIMER_CNT', 'kvm', ids)).toBe(0x603000000013df1an);
    expect(findRegisterByName('CNTV_CVAL_EL0', 'tcg', ids)).toBe(0x603000000013df1an);
    expect(domainError(() => findRegisterByName('TIMER_CNT', 'tcg', ids)).kind).toBe('unknown-register');
  });

  it('refuses a name no candidate has', () => {
    const e = domainError(() => findRegisterByName('NO_SUCH_REG', 'tcg', max));
    expect(e.kind).toBe('unknown-register');
    // A real register, but not in this list (max has EL2 only with virtualization=on).
    expect(domainError(() => findRegisterByName('HCR_EL2', 'tcg', max)).kind).toBe('unknown-register');
    expect(
      findRegisterByName('HCR_EL2', 'tcg', list('qemu-system-aarch64 -M virt,secure=on,virtualization=on -cpu max')),
    ).toBe(0x603000000013e088n);
  });

  it('refuses ambiguity, naming the ids', () => {
    // KVM's CORE ELR_EL1 and the ELR_EL1 system register share the name.
    const ids = [0x603000000013c201n, 0x6030000000100046n];
    const e = domainError(() => findRegisterByName('elr_el1', 'kvm', ids));
    expect(e.kind).toBe('ambiguous-name');
    expect(e.registers).toEqual([0x6030000000100046n, 0x603000000013c201n]);
    // The same id twice is one register.
    expect(findRegisterByName('ELR_EL1', 'kvm', [0x603000000013c201n, 0x603000000013c201n])).toBe(0x603000000013c201n);
  });

  it('is fast enough for ~300 names per request', () => {
    const start = Date.now();
    for (let i = 0; i < 100; i++) for (const id of max) registerName(id, 'kvm');
    expect(Date.now() - start).toBeLessThan(1000);
  });
});

const DATA = path.resolve(__dirname, '../../../shared/reference/data');
const kernelFiles = fs.existsSync(DATA)
  ? fs
      .readdirSync(DATA)
      .filter(
        (f) =>
          /^get-reg-list-.*\.json$/.test(f) &&
          f !== 'get-reg-list-ids-annotated.json' &&
          f !== 'get-reg-list-summary.json',
      )
  : [];

describe('names of the kernel get-reg-list lists under KVM', () => {
  it('has the reference lists', () => {
    expect(kernelFiles.length).toBeGreaterThanOrEqual(18);
  });

  it.each(kernelFiles.map((f) => [f]))('%s: every id has a real name', (f) => {
    const ids = (JSON.parse(fs.readFileSync(path.join(DATA, f), 'utf8')) as string[]).map((s) => BigInt(s));
    expect(ids.filter((id) => !hasRealName(id, 'kvm')).map((id) => registerName(id, 'kvm'))).toEqual([]);
  });
});
