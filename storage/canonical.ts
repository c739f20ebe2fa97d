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
      if (Array.isArray(value))
        return '[' + value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',') + ']';
      const o = value as Record<string, unknown>;
      const keys = Object.keys(o)
        .filter((k) => o[k] !== undefined)
        .sort();
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        if (i) out += ',';
        const k = keys[i]!;
        out += JSON.stringify(k) + ':' + canonicalJson(o[k]);
      }
      return out + '}';
    }
    default:
      throw new TypeError(`canonical JSON: cannot encode a ${typeof value}`);
  }
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
