import type { Finding, FindingRegister } from '../app/fleet';
import { formatRegId } from '../domain/regid';
import { formatValue } from '../domain/values';
import type { VcpuState } from '../domain/vcpu';
import { infoOf } from './views';

const hex64 = (v: bigint) => '0x' + v.toString(16).padStart(16, '0');

/** One register of a compatibility finding, named as the vCPU's accelerator names it. */
function registerView(state: VcpuState, r: FindingRegister) {
  const info = infoOf(state, r.id);
  return {
    id: formatRegId(r.id),
    name: info.name,
    generic: info.generic,
    ...(r.basis === undefined ? {} : { basis: r.basis }),
    ...(r.incoming === undefined ? {} : { incoming: formatValue(r.id, r.incoming) }),
    ...(r.destination === undefined ? {} : { destination: formatValue(r.id, r.destination) }),
    ...(r.keeps === undefined ? {} : { kept: hex64(r.keeps) }),
    ...(r.becomes === undefined ? {} : { becomes: formatValue(r.id, r.becomes) }),
    ...(r.by === undefined ? {} : { overwrittenBy: formatRegId(r.by), overwrittenByName: infoOf(state, r.by).name }),
  };
}

/** A finding (a reason QEMU refuses, or a warning that a value will not survive) on the wire. */
export function findingView(state: VcpuState, f: Finding) {
  return {
    rule: f.rule,
    message: f.message,
    count: f.count ?? f.registers.length,
    registers: f.registers.map((r) => registerView(state, r)),
  };
}
