/** The accelerators a vCPU runs under. Names, list rules and sync levels depend on it. */
const ACCELERATORS = ['kvm', 'tcg', 'hvf'] as const;
export type Accelerator = (typeof ACCELERATORS)[number];

export function isAccelerator(x: unknown): x is Accelerator {
  return typeof x === 'string' && (ACCELERATORS as readonly string[]).includes(x);
}
