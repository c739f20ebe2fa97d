import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEMUX_CCSIDR_IDS, readReferenceJson, referenceAvailable } from './reference';

/**
 * A KVM vCPU's KVM_GET_REG_LIST for tests: the kernel selftest's `vregs` list when the reference
 * data sits beside the checkout, else one shaped like it from the project's own fixture (the
 * AArch64 sysregs of QEMU's -cpu cortex-a57 block, plus CORE and SVE ids QEMU drops and the
 * firmware registers a kernel lists). Either way the 14 DEMUX CCSIDR ids a real host adds.
 */
export interface KvmList {
  ids: bigint[];
  source: 'kernel' | 'fixture';
  /** How many ids QEMU keeps (every class but CORE 0x0010 and SVE 0x0015), counted here. */
  kept: number;
}

const CORE = 0x0010n;
const SVE = 0x0015n;
const classOf = (id: bigint) => (id >> 16n) & 0xfffn;

function fromFixture(): bigint[] {
  const block = fs.readFileSync(path.resolve(__dirname, '../fixtures/qemu/aarch64-cortex-a57.cpu0.v22.bin'));
  const n = block.readUInt32BE(0);
  const sysregs: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const id = block.readBigUInt64BE(4 + 8 * i);
    if (id >> 56n === 0x60n) sysregs.push(id);
  }
  const core = Array.from({ length: 4 }, (_, k) => 0x6030000000100000n + 2n * BigInt(k)); // X0..X3
  const sve = [0x6080000000150000n]; // Z0
  const fw = [0x6030000000140000n, 0x6030000000140001n, 0x6030000000140002n]; // PSCI_VERSION, WA1, WA2
  // KVM's timer registers: TIMER_CTL, TIMER_CNT, TIMER_CVAL and PTIMER_CNT (QEMU syncs the two
  // counters only at the full level)
  const timers = [0x603000000013df19n, 0x603000000013df1an, 0x603000000013df02n, 0x603000000013df01n];
  return [...new Set([...core, ...sysregs, ...timers, ...fw, ...sve])];
}

export function kvmList(): KvmList {
  const source = referenceAvailable() ? 'kernel' : 'fixture';
  const base =
    source === 'kernel' ? readReferenceJson<string[]>('get-reg-list-vregs.json').map((x) => BigInt(x)) : fromFixture();
  const ids = [...base, ...DEMUX_CCSIDR_IDS];
  const kept = ids.filter((id) => classOf(id) !== CORE && classOf(id) !== SVE).length;
  return { ids, source, kept };
}

export const hex = (id: bigint) => '0x' + id.toString(16).padStart(16, '0');
