import { parseRegId } from '../domain/regid';
import { parseValue } from '../domain/values';
import type { RegAssignment, RegRef } from '../domain/vcpu';

/** A register in a path or a body key: `0x…` is an id (and must be a valid one), anything else a name. */
export function regRef(text: string): RegRef {
  return /^0x/i.test(text) ? parseRegId(text) : text;
}

export function assignments(values: Record<string, string>): RegAssignment[] {
  return Object.entries(values).map(([reg, value]) => [regRef(reg), parseValue(value)] as const);
}
