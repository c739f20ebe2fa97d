import { DomainError } from './errors';

export type Labels = Readonly<Record<string, string>>;

const KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;
const MAX_LABELS = 64;
const MAX_VALUE = 256;

/**
 * Labels are small operator tags (vm=web-1, host=…): bounded so a vCPU stays cheap to list.
 * Answered in key order (UTF-16 code units, canonical JSON's): the order the log keeps them in,
 * so a state folded from the stored events, the one held since the write and an auditor's
 * replay answer the same bytes.
 */
export function checkLabels(labels: unknown): Labels {
  if (labels === undefined) return {};
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) {
    throw new DomainError('invalid-command', 'labels must be an object of string to string');
  }
  const entries = Object.entries(labels as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length > MAX_LABELS) throw new DomainError('invalid-command', `at most ${MAX_LABELS} labels`);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (!KEY.test(k))
      throw new DomainError('invalid-command', `label key ${JSON.stringify(k.slice(0, 70))} must match ${KEY.source}`);
    if (typeof v !== 'string' || v.length > MAX_VALUE) {
      throw new DomainError('invalid-command', `label ${k} must be a string of at most ${MAX_VALUE} characters`);
    }
    out[k] = v;
  }
  return out;
}
