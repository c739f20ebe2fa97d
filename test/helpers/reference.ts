import * as fs from 'fs';
import * as path from 'path';

/**
 * Reference data kept outside the repository, beside the checkout: the kernel's register lists
 * and the architecture's names. It is not ours to commit, so a clone with nothing beside it skips
 * the suites that need it (one line each says so); under CI=true a missing folder fails instead.
 */
const REFERENCE_DATA = path.resolve(__dirname, '../../../shared/reference/data');

export const referenceAvailable = (): boolean => fs.existsSync(path.join(REFERENCE_DATA, 'get-reg-list-vregs.json'));

function referenceFile(name: string): string {
  return path.join(REFERENCE_DATA, name);
}

/**
 * `describe` when the reference data is there, else a skipped describe and one line on stderr
 * naming what was skipped. Under CI=true nothing may skip: a missing folder throws.
 */
export function describeWithReference(name: string, fn: () => void): void {
  if (referenceAvailable()) return describe(name, fn);
  if (process.env.CI === 'true')
    throw new Error(`reference data missing: ${REFERENCE_DATA} (CI=true: nothing may skip)`);
  process.stderr.write(`skipped "${name}": needs ../shared/reference/data beside the checkout (not found)\n`);
  // Not describe.skip(name, fn): jest would still run fn to collect its tests, and fn reads the data.
  test.skip(`${name} (needs ../shared/reference/data)`, () => undefined);
}

export function readReferenceJson<T = unknown>(name: string): T {
  const file = referenceFile(name);
  if (!fs.existsSync(file)) throw new Error(`reference data missing: ${file} (shared/ must sit beside the checkout)`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** The 18 kernel configs of the get-reg-list selftest: name → ids (none without the data). */
export function kernelLists(): Array<{ config: string; ids: bigint[] }> {
  if (!referenceAvailable()) return [];
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
