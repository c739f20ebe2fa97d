import { createHash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted (by UTF-16 code units, as Array.prototype.sort does),
 * no whitespace, strings and numbers as JSON.stringify writes them; undefined-valued keys
 * dropped. Refuses what JSON cannot carry (bigint, NaN, functions) instead of guessing.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON: non-finite number');
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        // An array of strings (the ids and values of an event: hundreds of them) is what
        // JSON.stringify writes: no keys to sort, each string escaped the same way.
        if (allStrings(value)) return JSON.stringify(value);
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const v: unknown = value[i];
          out += (i ? ',' : '') + (v === undefined ? 'null' : canonicalJson(v));
        }
        return out + ']';
      }
      const o = value as Record<string, unknown>;
      const keys = Object.keys(o).sort();
      let out = '{';
      let first = true;
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        const v = o[k];
        if (v === undefined) continue;
        out += (first ? '' : ',') + JSON.stringify(k) + ':' + canonicalJson(v);
        first = false;
      }
      return out + '}';
    }
    default:
      throw new TypeError(`canonical JSON: cannot encode a ${typeof value}`);
  }
}

function allStrings(a: readonly unknown[]): boolean {
  for (let i = 0; i < a.length; i++) if (typeof a[i] !== 'string') return false;
  return true;
}

export interface CanonicalEventFields {
  position: number;
  streamId: string;
  version: number;
  type: string;
  schemaVersion: number;
  /** canonicalJson(data) */
  dataText: string;
  /** canonicalJson(metadata) */
  metadataText: string;
}

/**
 * The canonical bytes of an event: canonicalJson of
 * {data, metadata, position, schemaVersion, streamId, type, version}, built by concatenation
 * (keys already in sorted order) so verify never re-parses the stored JSON.
 */
export function canonicalEventText(f: CanonicalEventFields): string {
  return (
    '{"data":' +
    f.dataText +
    ',"metadata":' +
    f.metadataText +
    ',"position":' +
    f.position +
    ',"schemaVersion":' +
    f.schemaVersion +
    ',"streamId":' +
    JSON.stringify(f.streamId) +
    ',"type":' +
    JSON.stringify(f.type) +
    ',"version":' +
    f.version +
    '}'
  );
}

export const GENESIS_HASH: Buffer = Buffer.alloc(32);

/** hash = sha256(prevHash || UTF-8 canonical bytes). One chain over all streams. */
export function chainHash(prevHash: Uint8Array, canonicalText: string): Buffer {
  return createHash('sha256').update(prevHash).update(canonicalText, 'utf8').digest();
}
