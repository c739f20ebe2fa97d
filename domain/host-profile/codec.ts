import { CorruptHistoryError } from '../vcpu/evolve';
import type { HostProfile, HostProfileEvent, ProfileSource } from './profile';

type Json = Record<string, unknown>;
export const PROFILE_SCHEMA_VERSION = 1;

const hex = (v: bigint) => '0x' + v.toString(16).padStart(16, '0');
const HEX = /^0x[0-9a-f]{1,16}$/;

function fail(what: string): never {
  throw new CorruptHistoryError(`stored host profile is not valid: ${what}`);
}

export function profileToJson(p: HostProfile): Json {
  return {
    accelerator: p.accelerator,
    qemu: p.qemu,
    cpuModel: p.cpuModel,
    machine: p.machine,
    ids: p.ids.map(hex),
    values: p.values.map(hex),
    writableMasks: p.writableMasks ? Object.fromEntries([...p.writableMasks].map(([k, v]) => [hex(k), hex(v)])) : null,
    labels: p.labels,
  };
}

export function profileFromJson(x: unknown): HostProfile {
  if (x === null || typeof x !== 'object') fail('profile');
  const d = x as Json;
  const big = (v: unknown) => (typeof v === 'string' && HEX.test(v) ? BigInt(v) : fail('hex value'));
  if (d.accelerator !== 'tcg' && d.accelerator !== 'kvm') fail('accelerator');
  if (typeof d.qemu !== 'string' || typeof d.cpuModel !== 'string') fail('qemu or cpuModel');
  if (!(d.machine === null || typeof d.machine === 'string')) fail('machine');
  if (!Array.isArray(d.ids) || !Array.isArray(d.values) || d.ids.length !== d.values.length) fail('ids/values');
  const masks = d.writableMasks;
  if (!(masks === null || (typeof masks === 'object' && !Array.isArray(masks)))) fail('writableMasks');
  if (d.labels === null || typeof d.labels !== 'object') fail('labels');
  return {
    accelerator: d.accelerator,
    qemu: d.qemu,
    cpuModel: d.cpuModel,
    machine: d.machine,
    ids: d.ids.map(big),
    values: d.values.map(big),
    writableMasks: masks ? new Map(Object.entries(masks as Json).map(([k, v]) => [big(k), big(v)])) : null,
    labels: d.labels as Record<string, string>,
  };
}

export function serializeProfileEvent(e: HostProfileEvent) {
  return {
    type: e.type,
    schemaVersion: PROFILE_SCHEMA_VERSION,
    data: { profile: profileToJson(e.profile), source: e.source },
  };
}

export function deserializeProfileEvent(type: string, schemaVersion: number, data: unknown): HostProfileEvent {
  if (type !== 'HostProfileSet' || schemaVersion !== PROFILE_SCHEMA_VERSION) fail(`${type} v${schemaVersion}`);
  const d = data as Json;
  const s = d.source as ProfileSource | undefined;
  if (!s || (s.kind !== 'json' && !(s.kind === 'stream' && typeof s.sha256 === 'string'))) fail('source');
  return { type, profile: profileFromJson(d.profile), source: s };
}
