import { readValueAt } from '../cpreg-arrays';
import { DomainError } from '../errors';
import { sizeBytes, type RegId } from '../regid';
import { listRegs } from '../vmstate/check';
import type { BlobFormat } from '../vmstate/format';
import type { VcpuState } from './state';

/**
 * A vCPU's list must be the stream block's list exactly (same ids, same order) for its values to
 * be written into the stream; the refusal names the registers that differ. The answer is the
 * block's `cpreg_vmstate_values`: one slot per register in a v22 section (none may be wider than
 * 8 bytes), the vCPU's M slots in a v23 one (whose value indexes must be the vCPU's layout).
 */
export function valuesForStreamBlock(
  id: string,
  state: VcpuState,
  cpu: { instance: number; indexes: BigUint64Array; format?: BlobFormat; valueIndexes?: Uint32Array },
): BigUint64Array {
  const a = state.arrays;
  const n = cpu.indexes.length;
  const mine = a.cpregIndexes;
  const same = mine.length === n && mine.every((x, i) => x === cpu.indexes[i]);
  if (!same) {
    const inStream = new Set(cpu.indexes);
    const inVcpu = new Set(mine);
    const onlyVcpu = Array.from(mine).filter((x) => !inStream.has(x));
    const onlyStream = Array.from(cpu.indexes).filter((x) => !inVcpu.has(x));
    const parts: string[] = [];
    if (onlyStream.length) parts.push(`in the stream but not in ${id}: ${listRegs(onlyStream)}`);
    if (onlyVcpu.length) parts.push(`in ${id} but not in the stream: ${listRegs(onlyVcpu)}`);
    if (!parts.length) parts.push('the same registers in a different order');
    const regs = [...onlyStream, ...onlyVcpu].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    throw new DomainError(
      'blob-rejected',
      `the register list of ${id} (${mine.length} registers) differs from the stream's cpu ${cpu.instance} (${n}): ${parts.join('; ')}`,
      regs,
    );
  }
  if (cpu.format === 'v23') {
    const vi = a.cpregValueIndexes;
    if (cpu.valueIndexes && cpu.valueIndexes.some((x, i) => x !== vi[i]))
      throw new DomainError(
        'malformed-blob',
        `the stream's cpu ${cpu.instance} has value indexes that do not follow the register sizes`,
      );
    return a.cpregValues.slice();
  }
  const wide: RegId[] = Array.from(mine).filter((x) => sizeBytes(x) > 8);
  if (wide.length)
    throw new DomainError(
      'not-representable',
      `${id}: a v22 stream cannot carry registers wider than 8 bytes: ${listRegs(wide)}`,
      wide,
    );
  const out = new BigUint64Array(n);
  for (let i = 0; i < n; i++) out[i] = readValueAt(a, i);
  return out;
}
