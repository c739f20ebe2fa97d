import type { Problem } from './problem';

/**
 * What /readyz reports beyond "the process answers": the storage failures the service has had
 * to answer lately (busy, read-only, full, unavailable), so a balancer can take a node out while
 * its database is in trouble and put it back when writes succeed again.
 */
export class Readiness {
  private last: { type: string; at: number } | undefined;

  private auditSource: (() => { state: string; detail?: string }) | undefined;

  constructor(private readonly windowMs = 30_000) {}

  /** Where the audit self-check's state is read (app/audit.ts): a mismatch makes the node degraded. */
  watchAudit(source: () => { state: string; detail?: string }): void {
    this.auditSource = source;
  }

  /** The audit self-check's state: 'ok', 'unchecked' (no checkpoint or no key) or 'mismatch'. */
  audit(): { state: string; detail?: string } {
    return this.auditSource?.() ?? { state: 'unchecked' };
  }

  /** Called for every answered problem: only storage problems count. */
  saw(p: Problem): void {
    if (/problem:(storage-full|storage-error|database-busy|database-read-only|database-unavailable)$/.test(p.type)) {
      this.last = { type: p.type, at: Date.now() };
    }
  }

  /** A write went through: the storage is fine again. */
  ok(): void {
    this.last = undefined;
  }

  /** The storage problem seen within the window, if any. */
  degraded(): { type: string; secondsAgo: number } | undefined {
    if (!this.last || Date.now() - this.last.at > this.windowMs) return undefined;
    return { type: this.last.type, secondsAgo: Math.round((Date.now() - this.last.at) / 1000) };
  }
}
