import { z } from 'zod';
import { DomainError } from '../domain/errors';
import { badRequest } from './problem';

/** Request bodies and queries. Strict: unknown fields are refused; values are hex strings only. */

export const VCPU_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const hexValue = z.string().regex(/^0x[0-9a-fA-F]{1,600}$/, 'must be a hex string: 0x followed by hex digits');
const regId = z.string().regex(/^0x[0-9a-fA-F]{16}$/, 'must be a register id: 0x + 16 hex digits');
const regRef = z.string().min(1).max(128);
const valuesMap = z.record(regRef, hexValue).refine((m) => Object.keys(m).length <= 4096, 'at most 4096 registers');
const accelerator = z.enum(['kvm', 'tcg', 'hvf']);

export const createVcpuBody = z.strictObject({
  id: z.string().regex(VCPU_ID, 'must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$').optional(),
  accelerator,
  registers: z.array(regId).max(65536).optional(),
  values: valuesMap.optional(),
  labels: z.record(z.string(), z.string()).optional(),
});

const slot = z.string().regex(/^0x[0-9a-fA-F]{1,16}$/, 'must be a 64-bit hex value: 0x and 1 to 16 hex digits');

/** A host profile from JSON: the host's list with an idle vCPU's values, keyed by register id. */
export const hostProfileBody = z.strictObject({
  accelerator: z.enum(['tcg', 'kvm']),
  qemu: z.string().regex(/^\d{1,3}\.\d{1,3}$/, 'must be major.minor, e.g. 10.0'),
  cpuModel: z.string().min(1).max(64).optional(),
  machine: z.string().max(64).nullable().optional(),
  registers: z
    .record(regId, slot)
    .refine((m) => Object.keys(m).length >= 1 && Object.keys(m).length <= 4096, '1 to 4096 registers'),
  writableMasks: z.record(regId, slot).optional(),
  labels: z.record(z.string(), z.string()).optional(),
});

export const writeRegisterBody = z.strictObject({ value: hexValue });
export const writeRegistersBody = z.strictObject({ values: valuesMap });

export const syncBody = z.discriminatedUnion('direction', [
  z.strictObject({
    direction: z.literal('from-accelerator'),
    values: valuesMap,
    failed: z.array(regRef).max(4096).optional(),
  }),
  z.strictObject({
    direction: z.literal('to-accelerator'),
    level: z.enum(['runtime', 'reset', 'full']).optional(),
  }),
]);

/** Parses with a schema or raises a 400 problem listing every issue. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === undefined) throw badRequest('a JSON body is required');
  refuseProtoKeys(body, []);
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const errors = r.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(body)', message: i.message }));
  throw badRequest(`invalid request body: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
}

/** Refuses query parameters a route does not know (a typo must not be silently ignored). */
export function onlyQuery(query: unknown, allowed: readonly string[]): Record<string, string | undefined> {
  const q = (query ?? {}) as Record<string, unknown>;
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(q)) {
    if (!allowed.includes(k))
      throw badRequest(
        `unknown query parameter ${JSON.stringify(k)}; this route takes: ${allowed.join(', ') || 'none'}`,
      );
    if (typeof v !== 'string') throw badRequest(`query parameter ${k} must be given once`);
    out[k] = v;
  }
  return out;
}

/** Repeated `label=key=value` query parameters → labels (a filter, or labels to give). */
export function labelsQuery(x: unknown): Record<string, string> {
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const l of ([] as unknown[]).concat(x ?? [])) {
    const m = typeof l === 'string' ? /^([^=]+)=(.*)$/.exec(l) : null;
    if (!m) throw badRequest('label must be key=value');
    labels[m[1]!] = m[2]!;
  }
  return labels;
}

/**
 * JSON.parse keeps a "__proto__" key as an own property, but copying it into a plain object (as
 * zod's record does) silently drops it — a register or label would vanish from a batch. Refuse
 * it instead: inside `values` it names no register (422, like any unknown register).
 */
function refuseProtoKeys(x: unknown, path: string[]): void {
  if (x === null || typeof x !== 'object' || path.length > 4) return;
  for (const key of Object.keys(x)) {
    if (key === '__proto__') {
      if (path[path.length - 1] === 'values') {
        throw new DomainError('unknown-register', 'no register named "__proto__" in this vCPU\'s list');
      }
      throw badRequest(`"__proto__" is not allowed as a key (at ${[...path, key].join('.')})`);
    }
    refuseProtoKeys((x as Record<string, unknown>)[key], [...path, key]);
  }
}
