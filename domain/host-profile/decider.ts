import { DomainError } from '../errors';
import { checkLabels } from '../labels';
import type { HostProfile, HostProfileCommand, HostProfileEvent } from './profile';

const QEMU = /^\d{1,3}\.\d{1,3}$/;
const MODEL = /^[A-Za-z0-9][A-Za-z0-9._,=+-]{0,63}$/;

/** Setting a profile replaces it whole; the same content again records nothing. */
export function decideProfile(c: HostProfileCommand, state: HostProfile | undefined): HostProfileEvent[] {
  const p = c.profile;
  if (p.accelerator !== 'tcg' && p.accelerator !== 'kvm') {
    throw new DomainError('invalid-command', 'a host profile is for tcg or kvm');
  }
  if (!QEMU.test(p.qemu)) throw new DomainError('invalid-command', `qemu must be major.minor (10.0), got ${p.qemu}`);
  if (!MODEL.test(p.cpuModel))
    throw new DomainError('invalid-command', `cpuModel ${JSON.stringify(p.cpuModel)} is not a -cpu model name`);
  if (p.ids.length !== p.values.length || p.ids.length === 0) {
    throw new DomainError('invalid-register-list', 'a host profile needs its register list with a value for each');
  }
  for (let i = 1; i < p.ids.length; i++) {
    if (p.ids[i]! <= p.ids[i - 1]!)
      throw new DomainError('invalid-register-list', 'register ids must ascend, once each', [p.ids[i]!]);
  }
  const profile: HostProfile = { ...p, labels: checkLabels(p.labels) };
  if (state && sameProfile(state, profile)) return [];
  return [{ type: 'HostProfileSet', profile, source: c.source }];
}

export function foldProfile(
  state: HostProfile | undefined,
  events: Iterable<HostProfileEvent>,
): HostProfile | undefined {
  let s = state;
  for (const e of events) s = e.profile;
  return s;
}

function sameProfile(a: HostProfile, b: HostProfile): boolean {
  const masks = (m: HostProfile['writableMasks']) => (m ? [...m].map(([k, v]) => `${k}:${v}`).join(',') : '');
  return (
    a.accelerator === b.accelerator &&
    a.qemu === b.qemu &&
    a.cpuModel === b.cpuModel &&
    a.machine === b.machine &&
    a.ids.length === b.ids.length &&
    a.ids.every((x, i) => x === b.ids[i] && a.values[i] === b.values[i]) &&
    masks(a.writableMasks) === masks(b.writableMasks) &&
    JSON.stringify(a.labels) === JSON.stringify(b.labels)
  );
}
