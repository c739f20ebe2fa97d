/**
 * A write's condition on the vCPU's version, as HTTP's If-Match and If-None-Match state it
 * (RFC 9110 §13.1): a version is the vCPU's strong entity tag; version 0 means no vCPU.
 */
export interface VersionCondition {
  /** The vCPU must be at one of these versions; '*': it must exist. An empty list never holds. */
  match?: '*' | readonly number[];
  /** The vCPU must be at none of these versions; '*': it must not exist. */
  noneMatch?: '*' | readonly number[];
}

export function conditionHolds(c: VersionCondition, version: number): boolean {
  if (c.match !== undefined) {
    const ok = c.match === '*' ? version > 0 : version > 0 && c.match.includes(version);
    if (!ok) return false;
  }
  if (c.noneMatch !== undefined) {
    const hit = c.noneMatch === '*' ? version > 0 : version > 0 && c.noneMatch.includes(version);
    if (hit) return false;
  }
  return true;
}

export function describeCondition(c: VersionCondition): string {
  const parts: string[] = [];
  const list = (v: '*' | readonly number[]) => (v === '*' ? '*' : v.map((n) => `"${n}"`).join(', ') || '(no version)');
  if (c.match !== undefined) parts.push(`If-Match: ${list(c.match)}`);
  if (c.noneMatch !== undefined) parts.push(`If-None-Match: ${list(c.noneMatch)}`);
  return parts.join(' and ');
}
