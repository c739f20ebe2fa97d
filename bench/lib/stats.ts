/** Rounds of a measurement: min / median / max, as every figure of the benches reports them. */

export const sorted = (xs: readonly number[]) => [...xs].sort((a, b) => a - b);

/** NaN for no samples; the lower middle for an even count. */
export const median = (xs: readonly number[]) => sorted(xs)[Math.floor((xs.length - 1) / 2)] ?? NaN;

export const pct = (xs: readonly number[], p: number) => {
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? NaN;
};

export const fmt = (n: number, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/** "median 0.62 (min 0.55, max 0.70; rounds 0.62, 0.55, 0.70)" */
export function spread(xs: readonly number[], d = 2, unit = ''): string {
  const s = sorted(xs);
  const f = (x: number) => fmt(x, d) + unit;
  return `median ${f(median(xs))} (min ${f(s[0] ?? NaN)}, max ${f(s[s.length - 1] ?? NaN)}; rounds ${xs.map(f).join(', ')})`;
}

/** "met" / "NOT met" for a median against a target. */
export const verdict = (value: number, ok: boolean) => `${ok ? 'met' : 'NOT met'} (median ${fmt(value, 2)})`;
