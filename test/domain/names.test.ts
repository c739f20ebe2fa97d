import * as fs from 'fs';
import * as path from 'path';
import {
  QEMU_VERSIONS,
  findRegisterByName,
  genericName,
  hasRealName,
  indexByName,
  nameContext,
  registerInfo,
  registerInfos,
  registerName,
} from '../../domain/names';
import { isDomainError } from '../../domain/errors';
import { describeWithReference } from '../helpers/reference';
import { type RegId, aarch32Id, sysregId } from '../../domain/regid';

/** test/fixtures/names/tcg-lists.json, made by scripts/measure-names.sh (docs/names.md). */
interface TcgLists {
  qemu: Record<string, string>;
  ids: string[];
  distinct: string[];
  lists: Record<string, number>;
  refused: Record<string, string>;
}
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/names/tcg-lists.json'), 'utf8'),
) as TcgLists;

function expand(ranges: string): number[] {
  return ranges.split(',').flatMap((part) => {
    const [a, b] = part.split('-').map(Number);
    if (a === undefined || Number.isNaN(a)) throw new Error(`bad range ${part}`);
    return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, i) => a + i);
  });
}

interface Measured {
  key: string;
  version: string;
  binary: string;
  machine: string;
  cpu: string;
  ids: RegId[];
}
const measured: Measured[] = Object.entries(fixture.lists).map(([key, at]) => {
  const m = /^(\S+) (\S+) -M (\S+) -cpu (\S+)$/.exec(key);
  const ranges = fixture.distinct[at];
  if (!m || !m[1] || !m[2] || !m[3] || !m[4] || ranges === undefined) throw new Error(`bad list key ${key}`);
  const ids = expand(ranges).map((i) => {
    const id = fixture.ids[i];
    if (id === undefined) throw new Error(`${key}: no id ${i}`);
    return BigInt(id);
  });
  return { key, version: m[1], binary: m[2], machine: m[3], cpu: m[4], ids };
});
const isVirt = (l: Measured): boolean => l.machine === 'virt' || l.machine.startsWith('virt,');
const list = (key: string): RegId[] => {
  const l = measured.find((x) => x.key === key);
  if (!l) throw new Error(`no list ${key}`);
  return l.ids;
};
const MAX72 = '7.2 qemu-system-aarch64 -M virt -cpu max';
const VIRT_OPTIONS = ['virt', 'virt,secure=on', 'virt,virtualization=on', 'virt,virtualization=on,secure=on'];

function domainError(fn: () => unknown): { kind: string; registers: readonly bigint[] } {
  try {
    fn();
  } catch (e) {
    if (isDomainError(e)) return e;
    throw e;
  }
  throw new Error('expected a DomainError');
}

/** "p14 0 c0 c2 0" (MRC operands) -> the 32-bit AArch32 id with QEMU's NS bit set. */
function aa32(operands: string, ns = true): RegId {
  const m = /^p(\d+) (\d) c(\d+) c(\d+) (\d)$/.exec(operands);
  if (!m) throw new Error(`bad operands ${operands}`);
  const [cp, opc1, crn, crm, opc2] = m.slice(1).map(Number) as [number, number, number, number, number];
  return aarch32Id({ cp, opc1, crn, crm, opc2, is64: false, ns });
}

/** "S3_0_C12_C0_2" -> the SYSREG id. */
function sys(encoding: string): RegId {
  const m = /^S(\d)_(\d)_C(\d+)_C(\d+)_(\d)$/.exec(encoding);
  if (!m) throw new Error(`bad encoding ${encoding}`);
  const [op0, op1, crn, crm, op2] = m.slice(1).map(Number) as [number, number, number, number, number];
  return sysregId({ op0, op1, crn, crm, op2 });
}

describe('the measured TCG lists (test/fixtures/names/tcg-lists.json)', () => {
  it('come from QEMU 7.2.22 and 10.0.2, the versions the table is built from', () => {
    expect(fixture.qemu['7.2']).toMatch(/^QEMU emulator version 7\.2\.22 /);
    expect(fixture.qemu['10.0']).toMatch(/^QEMU emulator version 10\.0\.2 /);
    expect(QEMU_VERSIONS).toEqual(['7.2.22', '10.0.2']);
  });

  it.each([
    [
      '7.2',
      'qemu-system-aarch64',
      'a64fx cortex-a15 cortex-a35 cortex-a53 cortex-a57 cortex-a7 cortex-a72 cortex-a76 max neoverse-n1',
    ],
    ['7.2', 'qemu-system-arm', 'cortex-a15 cortex-a7 max'],
    [
      '10.0',
      'qemu-system-aarch64',
      'a64fx cortex-a15 cortex-a35 cortex-a53 cortex-a55 cortex-a57 cortex-a7 cortex-a710 cortex-a72 cortex-a76 max neoverse-n1 neoverse-n2 neoverse-v1',
    ],
    ['10.0', 'qemu-system-arm', 'cortex-a15 cortex-a7 max'],
  ])('QEMU %s %s: every model -M virt runs, with each machine option set', (version, binary, models) => {
    for (const machine of VIRT_OPTIONS) {
      const cpus = measured
        .filter((l) => l.version === version && l.binary === binary && l.machine === machine)
        .map((l) => l.cpu)
        .sort();
      expect(cpus.join(' ')).toBe(models);
    }
  });

  it('every other model on the empty machine (-M none), except M profile, which it refuses', () => {
    const virtRefused = Object.keys(fixture.refused).filter((k) => / -M virt -cpu /.test(k));
    expect(virtRefused.length).toBeGreaterThan(100);
    for (const k of virtRefused) {
      const none = k.replace(' -M virt ', ' -M none ');
      if (/ -cpu cortex-m/.test(k)) expect(fixture.refused[none]).toMatch(/Cortex-M/);
      else expect(fixture.lists[none]).toBeDefined();
    }
  });

  it.each([
    // measured with QEMU 7.2 and 10.0.
    [MAX72, 304],
    ['7.2 qemu-system-aarch64 -M virt -cpu cortex-a57', 258],
    ['7.2 qemu-system-arm -M virt -cpu cortex-a15', 197],
    ['10.0 qemu-system-aarch64 -M virt -cpu max', 328],
    ['10.0 qemu-system-aarch64 -M virt -cpu cortex-a710', 357],
    ['10.0 qemu-system-aarch64 -M virt -cpu neoverse-n2', 332],
    ['10.0 qemu-system-aarch64 -M virt -cpu neoverse-v1', 311],
    ['10.0 qemu-system-aarch64 -M virt -cpu cortex-a57', 274],
    ['10.0 qemu-system-arm -M virt -cpu cortex-a15', 208],
  ])('%s has %i registers', (key, n) => {
    expect(list(key)).toHaveLength(n);
  });
});

/** Share of real names over some lists, each named with its own context. */
function share(lists: Measured[]): { real: number; total: number; generic: string[] } {
  let real = 0;
  let total = 0;
  const generic: string[] = [];
  for (const l of lists) {
    const infos = registerInfos(l.ids, 'tcg');
    total += infos.length;
    for (const x of infos) {
      if (x.generic) generic.push(`${l.key}: ${x.name}`);
      else real++;
    }
  }
  return { real, total, generic };
}

describe('real-name share over the TCG lists of every model of both binaries of both versions', () => {
  const groups: [string, Measured[]][] = [];
  for (const version of ['7.2', '10.0']) {
    for (const binary of ['qemu-system-aarch64', 'qemu-system-arm']) {
      const mine = measured.filter((l) => l.version === version && l.binary === binary);
      groups.push([`${version} ${binary}, -M virt (4 option sets)`, mine.filter(isVirt)]);
      groups.push([`${version} ${binary}, -M none and boards`, mine.filter((l) => !isVirt(l))]);
    }
  }
  groups.push(['all -M virt lists', measured.filter(isVirt)]);
  groups.push(['all lists', measured]);

  it.each(groups)('%s: at least 99.5 % real names', (_label, lists) => {
    expect(lists.length).toBeGreaterThan(0);
    const s = share(lists);
    expect(s.total).toBeGreaterThan(0);
    // The generic ones are listed when the share falls short.
    if (s.real / s.total < 0.995) expect(s.generic).toEqual([]);
    expect(s.real / s.total).toBeGreaterThanOrEqual(0.995);
  });

  it.each(measured.map((l) => [l.key, l] as const))('%s: names unique, each finds its register', (_key, l) => {
    const infos = registerInfos(l.ids, 'tcg');
    const names = infos.map((x) => x.name.toUpperCase());
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    const index = indexByName(l.ids, 'tcg');
    l.ids.forEach((id, i) => {
      const info = infos[i];
      if (!info) throw new Error('missing info');
      expect(index.find(info.name)).toBe(id);
    });
  });
});

describe('no wrong name: spot checks, each with the source of the fact', () => {
  // Arm ARM (DDI 0487) G8.3 AArch32 debug registers; Linux arch/arm64/kvm/sys_regs.c cp14_regs[]
  // names each beside its Op1/CRn/CRm/Op2. QEMU 10.0 migrates these AArch32 views (its names
  // are the AArch64 ones: MDCCINT_EL1, OSDTRRX_EL1, …).
  it.each([
    [0x40200000200e0100n, 'p14 0 c0 c2 0', 'DBGDCCINT'], // not XScale's CPPMN0 (hw/arm/pxa2xx.c)
    [0x40200000200e0002n, 'p14 0 c0 c0 2', 'DBGDTRRXext'], // issue 9's `p14 0 c0 c0 2 (NS)`
    [0x40200000200e0182n, 'p14 0 c0 c3 2', 'DBGDTRTXext'],
    [0x40200000200e0102n, 'p14 0 c0 c2 2', 'DBGDSCRext'],
    [0x40200000200e0302n, 'p14 0 c0 c6 2', 'DBGOSECCR'],
    [0x40200000200e0884n, 'p14 0 c1 c1 4', 'DBGOSLSR'],
    [0x40200000200e0984n, 'p14 0 c1 c3 4', 'DBGOSDLR'],
    [0x40200000200e3c86n, 'p14 0 c7 c9 6', 'DBGCLAIMCLR'],
    [0x40200000200e0000n, 'p14 0 c0 c0 0', 'DBGDIDR'], // measured (QEMU 7.2 and 10.0)
    [0x40200000200e0004n, 'p14 0 c0 c0 4', 'DBGBVR0'], // Linux DBG_BCR_BVR_WCR_WVR(0)
    [0x40200000200e0285n, 'p14 0 c0 c5 5', 'DBGBCR5'],
    [0x40200000200e0286n, 'p14 0 c0 c5 6', 'DBGWVR5'],
    [0x40200000200e0287n, 'p14 0 c0 c5 7', 'DBGWCR5'],
  ])('AArch32 debug %s (%s) is %s on an Armv7/v8 CPU', (id, operands, name) => {
    expect(aa32(operands)).toBe(id);
    expect(registerInfo(id, 'tcg')).toEqual({ name, generic: false });
    // And in every -M virt list that has it, whatever the CPU.
    for (const l of measured.filter(isVirt)) {
      if (l.ids.includes(id)) expect(registerName(id, 'tcg', nameContext(l.ids))).toBe(name);
    }
  });

  // Arm ARM G8.2 AArch32 system registers (Hyp registers and EL1 views of AArch64 registers);
  // Linux cp15_regs[] names ACTLR, ADFSR, AIFSR, DFAR, IFAR, AMAIR0 beside their encodings.
  it.each([
    ['p15 4 c1 c0 0', 'HSCTLR'], // SCTLR_EL2
    ['p15 4 c1 c1 2', 'HCPTR'], // CPTR_EL2
    ['p15 4 c1 c1 1', 'HDCR'], // MDCR_EL2
    ['p15 4 c5 c2 0', 'HSR'], // ESR_EL2
    ['p15 4 c6 c0 0', 'HDFAR'], // FAR_EL2
    ['p15 4 c12 c0 0', 'HVBAR'], // VBAR_EL2
    ['p15 4 c13 c0 2', 'HTPIDR'], // TPIDR_EL2
    ['p15 4 c14 c1 0', 'CNTHCTL'], // CNTHCTL_EL2
    ['p15 4 c14 c2 1', 'CNTHP_CTL'], // CNTHP_CTL_EL2
    ['p15 0 c1 c0 1', 'ACTLR'], // ACTLR_EL1, not XScale's auxiliary control register
    ['p15 0 c5 c1 0', 'ADFSR'], // AFSR0_EL1
    ['p15 0 c6 c0 0', 'DFAR'],
    ['p15 0 c6 c0 1', 'WFAR'], // v6/v7; ARM1026's IFAR only on that CPU (below)
    ['p15 0 c6 c0 2', 'IFAR'],
    ['p15 0 c12 c0 2', 'RMR'], // RMR_EL1 (EL1 the highest level)
    ['p15 0 c13 c0 1', 'CONTEXTIDR'], // CONTEXTIDR_EL1
    ['p15 0 c13 c0 2', 'TPIDRURW'], // measured (QEMU 7.2 and 10.0)
    ['p15 0 c0 c0 1', 'CTR'], // measured (QEMU 7.2 and 10.0)
    ['p15 1 c0 c0 1', 'CLIDR'], // measured (QEMU 7.2 and 10.0)
    ['p15 0 c7 c4 0', 'PAR'], // measured (QEMU 7.2 and 10.0)
    ['p15 0 c3 c0 0', 'DACR'],
  ])('AArch32 %s is %s', (operands, name) => {
    expect(registerInfo(aa32(operands), 'tcg')).toEqual({ name, generic: false });
  });

  // Linux arch/arm64/tools/sysreg (the architecture's register names),
  // arch/arm64/include/asm/sysreg.h, Arm ARM D23. The first four are among the registers issue 9
  // found generic in QEMU 10.0's lists.
  it.each([
    ['S3_0_C12_C0_2', 'RMR_EL1'],
    ['S2_0_C7_C9_6', 'DBGCLAIMCLR_EL1'],
    ['S3_4_C14_C4_1', 'CNTHVS_CTL_EL2'],
    // asm/sysreg.h: SYS_DBGDTRRX_EL0 = SYS_DBGDTRTX_EL0 = sys_reg(2, 3, 0, 5, 0); DBGDTR_EL0 is
    // sys_reg(2, 3, 0, 4, 0). QEMU calls this one "DBGDTR_EL0".
    ['S2_3_C0_C5_0', 'DBGDTRRX_EL0'],
    ['S2_0_C0_C2_0', 'MDCCINT_EL1'],
    ['S2_0_C0_C0_2', 'OSDTRRX_EL1'],
    ['S3_4_C14_C5_1', 'CNTHPS_CTL_EL2'],
    ['S3_3_C13_C0_2', 'TPIDR_EL0'],
    ['S3_0_C1_C0_0', 'SCTLR_EL1'],
    ['S3_3_C14_C3_2', 'CNTV_CVAL_EL0'], // under TCG; KVM's TIMER_CNT below
    ['S3_3_C14_C0_2', 'CNTVCT_EL0'],
    ['S3_6_C1_C1_0', 'SCR_EL3'],
  ])('AArch64 %s is %s', (encoding, name) => {
    expect(registerInfo(sys(encoding), 'tcg')).toEqual({ name, generic: false });
  });

  it("accepts QEMU's own names and the other name of one encoding in lookups", () => {
    const max = list('10.0 qemu-system-aarch64 -M virt -cpu max');
    expect(findRegisterByName('DBGDTRTX_EL0', 'tcg', max)).toBe(sys('S2_3_C0_C5_0'));
    expect(findRegisterByName('DBGDTR_EL0', 'tcg', max)).toBe(sys('S2_3_C0_C5_0')); // QEMU's name
    expect(findRegisterByName('MDCCINT_EL1 (AArch32)', 'tcg', max)).toBe(0x40200000200e0100n);
    expect(findRegisterByName('dbgbvr0_el1 (aarch32)', 'tcg', max)).toBe(0x40200000200e0004n);
    expect(findRegisterByName('DBGDCCINT', 'tcg', max)).toBe(0x40200000200e0100n);
  });

  it('gives an AArch32 view QEMU made up its AArch64-style name, marked (AArch32)', () => {
    // QEMU puts DBGDTR's AArch32 view at p14 3 c0 c5 0, an encoding the architecture does not have.
    expect(registerName(aa32('p14 3 c0 c5 0'), 'tcg')).toBe('DBGDTR_EL0 (AArch32)');
    expect(registerName(aa32('p15 6 c5 c1 0'), 'tcg')).toBe('AFSR0_EL3 (AArch32)');
  });
});

describe('names that depend on the CPU (nameContext)', () => {
  it('in -M virt lists only MVBAR/RVBAR (EL3 or not) and neoverse-v1 CPUPPMCR3_EL3 change', () => {
    const mvbar = aa32('p15 0 c12 c0 1');
    const ppmcr = sys('S3_6_C15_C2_6');
    for (const l of measured.filter(isVirt)) {
      const ctx = nameContext(l.ids);
      const changed = [...ctx.names].map(([id, name]) => [id, name] as const);
      for (const [id, name] of changed) {
        if (id === mvbar) {
          expect([l.key, name]).toEqual([l.key, 'RVBAR']);
          expect(l.machine).not.toMatch(/secure=on/);
        } else {
          expect([l.key, id, name]).toEqual([l.key, ppmcr, 'CPUPPMCR3_EL3']);
          expect(l.cpu).toBe('neoverse-v1');
        }
      }
      // With EL3 (secure=on) p15 0 c12 c0 1 is MVBAR.
      if (l.machine.includes('secure=on') && l.ids.includes(mvbar)) {
        expect(registerName(mvbar, 'tcg', ctx)).toBe('MVBAR');
      }
    }
    // QEMU 10.0 cortex-a710 / neoverse-n2 (their TRMs: CPUPPMCR6_EL3 at S3_6_C15_C2_6).
    const n2 = list('10.0 qemu-system-aarch64 -M virt,secure=on -cpu neoverse-n2');
    expect(registerName(ppmcr, 'tcg', nameContext(n2))).toBe('CPUPPMCR6_EL3');
    const v1 = list('10.0 qemu-system-aarch64 -M virt,secure=on -cpu neoverse-v1');
    expect(registerName(ppmcr, 'tcg', nameContext(v1))).toBe('CPUPPMCR3_EL3');
    // Without EL2/EL3 a v8 CPU has RVBAR (RVBAR_EL1's AArch32 view) there.
    const a57 = list('10.0 qemu-system-aarch64 -M virt -cpu cortex-a57');
    expect(registerName(mvbar, 'tcg', nameContext(a57))).toBe('RVBAR');
  });

  // Each a register of that CPU in QEMU's tables (target/arm/helper.c, tcg/cpu32.c), and another
  // register on Armv7/v8 CPUs.
  it.each([
    ['7.2 qemu-system-arm -M tosa -cpu pxa255', 'p15 0 c1 c0 1', 'XSCALE_AUXCR', 'ACTLR'],
    ['7.2 qemu-system-arm -M akita -cpu pxa270-c0', 'p15 0 c15 c1 0', 'XSCALE_CPAR', 'NEONBUSY'],
    ['10.0 qemu-system-arm -M none -cpu pxa270', 'p15 0 c1 c0 1', 'XSCALE_AUXCR', 'ACTLR'],
    ['10.0 qemu-system-arm -M integratorcp -cpu arm1026', 'p15 0 c6 c0 1', 'IFAR', 'WFAR'],
    ['10.0 qemu-system-arm -M integratorcp -cpu arm946', 'p15 0 c6 c0 0', '946_PRBS0', 'DFAR'],
    ['10.0 qemu-system-arm -M integratorcp -cpu arm946', 'p15 0 c2 c0 0', 'DCACHE_CFG', 'TTBR0'],
    ['7.2 qemu-system-arm -M sx1 -cpu ti925t', 'p15 0 c9 c0 0', 'C9', 'DLOCKDOWN'],
    ['7.2 qemu-system-arm -M sx1 -cpu ti925t', 'p15 0 c15 c1 0', 'TICONFIG', 'NEONBUSY'],
    ['10.0 qemu-system-arm -M cubieboard -cpu cortex-a8', 'p15 1 c9 c0 2', 'L2AUXCR', 'L2CTLR'],
    ['10.0 qemu-system-arm -M mps3-an536 -cpu cortex-r52', 'p15 0 c9 c1 0', 'IMP_ATCMREGIONR', 'BTCM'],
    ['10.0 qemu-system-arm -M mps3-an536 -cpu cortex-r52', 'p15 4 c15 c0 0', 'IMP_TESTR0', 'CBAR'],
  ])('%s: %s is %s (%s on other CPUs)', (key, operands, name, other) => {
    const ids = list(key);
    const id = aa32(operands);
    expect(ids).toContain(id);
    expect(registerInfo(id, 'tcg', nameContext(ids))).toEqual({ name, generic: false });
    expect(registerName(id, 'tcg')).toBe(other);
    expect(findRegisterByName(name, 'tcg', ids)).toBe(id);
  });

  it("never names p14 0 c0 c2 0 CPPMN0: QEMU never migrates the PXA board's cp14 registers", () => {
    for (const l of measured) {
      expect(l.ids.map((id) => registerName(id, 'tcg', nameContext(l.ids)))).not.toContain('CPPMN0');
    }
    expect(list('7.2 qemu-system-arm -M akita -cpu pxa270-c0')).not.toContain(0x40200000200e0100n);
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
    [0x40200000200e0004n, 'DBGBVR0'],
    [0x40200000000e0004n, 'DBGBVR0_S'],
    [0x603000000013dce8n, 'PMCCNTR_EL0'],
    [0x603000000013df1an, 'CNTV_CVAL_EL0'],
  ])('%s is %s under TCG', (id, name) => {
    expect(registerName(id, 'tcg')).toBe(name);
    expect(hasRealName(id, 'tcg')).toBe(true);
  });

  it("keeps QEMU's labels for the reserved ID encodings it migrates", () => {
    expect(list(MAX72)).toContain(0x603000000013c01bn);
    expect(registerName(0x603000000013c01bn, 'tcg')).toBe('RES_0_C0_C3_3');
    expect(registerName(0x603000000013c023n, 'tcg')).toBe('ID_AA64PFR3_EL1_RESERVED');
    expect(registerName(0x40200000200f0400n, 'tcg')).toBe('RES_0_C0_C8_X');
    expect(registerName(0x40200000000f0183n, 'tcg')).toBe('RES_0_C0_C3_3_S');
  });

  it('names the cortex-a57 implementation-defined registers', () => {
    const a57 = list('7.2 qemu-system-aarch64 -M virt -cpu cortex-a57');
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

  it("keeps one table's two ids of one QEMU name apart (QEMU 10.0 cortex-a710's CPUPPMCR_EL3)", () => {
    expect(registerName(sys('S3_6_C15_C2_0'), 'tcg')).toBe('CPUPPMCR_EL3');
    expect(registerName(sys('S3_0_C15_C2_4'), 'tcg')).toBe('CPUPPMCR_EL3 (S3_0_C15_C2_4)');
    // A migrated register and an alias QEMU never migrates, named alike.
    expect(registerName(aa32('p15 0 c0 c0 0'), 'tcg')).toBe('MIDR');
    expect(registerName(aa32('p15 0 c0 c0 7'), 'tcg')).toBe('MIDR (p15 0 c0 c0 7)');
  });

  it('names the nXS TLBI forms QEMU 10.0 adds at CRn + 1', () => {
    expect(registerName(sys('S1_4_C9_C4_0'), 'tcg')).toBe('TLBI_IPAS2E1OSNXS');
    expect(registerName(sys('S1_4_C8_C4_0'), 'tcg')).toBe('TLBI_IPAS2E1OS');
  });
});

describe('real or generic (registerInfo)', () => {
  it('says whether the name is real', () => {
    expect(registerInfo(0x603000000013de82n, 'tcg')).toEqual({ name: 'TPIDR_EL0', generic: false });
    expect(registerInfo(sys('S3_0_C0_C0_7'), 'kvm')).toEqual({ name: 'S3_0_C0_C0_7', generic: true });
    expect(registerInfo(aa32('p15 7 c15 c14 6'), 'tcg')).toEqual({ name: 'p15 7 c15 c14 6 (NS)', generic: true });
    expect(registerInfo(0x6030000000140007n, 'kvm')).toEqual({ name: 'FW_REG_7', generic: true });
  });

  it('registerInfos names a list in its order, with its own context', () => {
    const a57 = list('10.0 qemu-system-aarch64 -M virt -cpu cortex-a57');
    const infos = registerInfos(a57, 'tcg');
    expect(infos).toHaveLength(a57.length);
    expect(infos[a57.indexOf(aa32('p15 0 c12 c0 1'))]).toEqual({ name: 'RVBAR', generic: false });
    expect(infos.map((x) => x.name)).toEqual(a57.map((id) => registerName(id, 'tcg', nameContext(a57))));
  });
});

describe('names that depend on the accelerator', () => {
  it('0x603000000013df1a is KVM_REG_ARM_TIMER_CNT under KVM, CNTV_CVAL_EL0 otherwise', () => {
    expect(registerName(0x603000000013df1an, 'kvm')).toBe('TIMER_CNT');
    expect(registerName(0x603000000013df1an, 'tcg')).toBe('CNTV_CVAL_EL0');
    expect(registerName(0x603000000013df1an, 'hvf')).toBe('CNTV_CVAL_EL0');
  });

  // Linux arch/arm64/include/uapi/asm/kvm.h (KVM_REG_ARM_TIMER_*).
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
  const max = list(MAX72);

  it('finds real names, case-insensitively', () => {
    expect(findRegisterByName('TPIDR_EL0', 'tcg', max)).toBe(0x603000000013de82n);
    expect(findRegisterByName('tpidr_el0', 'tcg', max)).toBe(0x603000000013de82n);
    expect(findRegisterByName('  dbgdidr ', 'tcg', max)).toBe(0x40200000200e0000n);
    expect(findRegisterByName('fcseidr_s', 'tcg', max)).toBe(0x40200000000f6800n);
    expect(findRegisterByName('DBGBVR0_EL1', 'tcg', max)).toBe(0x6030000000138004n);
    expect(findRegisterByName('dbgbvr0', 'tcg', max)).toBe(0x40200000200e0004n);
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
      findRegisterByName(
        'HCR_EL2',
        'tcg',
        list('7.2 qemu-system-aarch64 -M virt,virtualization=on,secure=on -cpu max'),
      ),
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
    for (let i = 0; i < 100; i++) registerInfos(max, 'tcg');
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

describeWithReference('names of the kernel get-reg-list lists under KVM', () => {
  it('has the reference lists', () => {
    expect(kernelFiles.length).toBeGreaterThanOrEqual(18);
  });

  it.each(kernelFiles.map((f) => [f]))('%s: every id has a real name', (f) => {
    const ids = (JSON.parse(fs.readFileSync(path.join(DATA, f), 'utf8')) as string[]).map((s) => BigInt(s));
    expect(ids.filter((id) => !hasRealName(id, 'kvm')).map((id) => registerName(id, 'kvm'))).toEqual([]);
  });
});
