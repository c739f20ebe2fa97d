import * as fs from 'fs';
import * as path from 'path';

/** ../shared/reference/data, beside the checkout (as on every developer machine and in CI). */
export const REFERENCE_DATA = path.resolve(__dirname, '../../../shared/reference/data');

export function readReferenceJson<T = unknown>(name: string): T {
  const file = path.join(REFERENCE_DATA, name);
  if (!fs.existsSync(file)) throw new Error(`reference data missing: ${file} (shared/ must sit beside the checkout)`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** The 18 kernel configs of the get-reg-list selftest: name → ids. */
export function kernelLists(): Array<{ config: string; ids: bigint[] }> {
  return fs
    .readdirSync(REFERENCE_DATA)
    .filter(
      (f) =>
        /^get-reg-list-[a-z0-9_]+\.json$/.test(f) &&
        !f.includes('sublist') &&
        !f.includes('summary') &&
        !f.includes('annotated'),
    )
    .map((f) => ({
      config: f.replace(/^get-reg-list-/, '').replace(/\.json$/, ''),
      ids: readReferenceJson<string[]>(f).map((x) => BigInt(x)),
    }));
}

/** The 14 DEMUX CCSIDR ids a real host's KVM_GET_REG_LIST adds (the selftest filters them). */
export const DEMUX_CCSIDR_IDS: bigint[] = Array.from({ length: 14 }, (_, n) => 0x6020000000110000n + BigInt(n));
