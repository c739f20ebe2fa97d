/**
 * mulberry32: a 32-bit PRNG (Tommy Ettinger's), exact in JavaScript's integer arithmetic. The
 * benches' former generator (`seed * 1103515245 + 12345` in doubles) lost its low bits after
 * the second draw: `1 + rnd(4)` was always 1 and `rnd(300)` reached 110 registers.
 */
export function mulberry32(seed: number): { next: () => number; int: (n: number) => number } {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  /** 0 ≤ int(n) < n, uniform (n ≤ 2^32). */
  const int = (n: number) => Math.floor(next() * n);
  return { next, int };
}
