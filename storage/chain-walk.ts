import { canonicalEventText, chainHash, GENESIS_HASH } from './canonical';
import type { VerifyAnchor, VerifyReport } from './event-store';
import type { EventRow } from './rows';

/**
 * The verify walk both backends run (storage/sqlite/verify.ts, storage/postgres/verify.ts): fed
 * every event row in position order, it recomputes the chain from the stored bytes (never
 * re-parsing JSON: the stored text is the canonical text). An edited row changes its hash; a
 * deleted row leaves a gap; an inserted row has no valid link, or repeats or skips a stream
 * version. The backends keep what differs: their transaction, paging, and the sequence or head
 * row that shows a deleted tail.
 */
export class ChainWalk {
  private readonly versions = new Map<string, number>();
  private prevHash: Buffer = GENESIS_HASH;
  private anchorSeen = false;
  /** The last position walked. */
  prevPos = 0;
  events = 0;

  constructor(private readonly anchor?: VerifyAnchor) {}

  get headHash(): Buffer {
    return this.prevHash;
  }

  broken(position: number, reason: string): VerifyReport {
    return {
      ok: false,
      events: this.events,
      headPosition: this.prevPos,
      headHash: this.prevHash.toString('hex'),
      firstBrokenPosition: position,
      reason,
    };
  }

  /** One row, the next in position order: a report when it breaks the chain. */
  step(row: EventRow): VerifyReport | undefined {
    const [position, streamId, version, type, schemaVersion, dataText, metadataText, hash] = row;
    if (position !== this.prevPos + 1)
      return this.broken(position, `position ${position} follows ${this.prevPos}: rows missing`);
    const last = this.versions.get(streamId) ?? 0;
    if (version !== last + 1) return this.broken(position, `stream ${streamId} version ${version} follows ${last}`);
    const expected = chainHash(
      this.prevHash,
      canonicalEventText({ position, streamId, version, type, schemaVersion, dataText, metadataText }),
    );
    if (!Buffer.isBuffer(hash) || !expected.equals(hash))
      return this.broken(position, `hash of event ${position} does not match its bytes and its predecessor`);
    if (this.anchor && position === this.anchor.position) {
      if (hash.toString('hex') !== this.anchor.hash.toLowerCase())
        return this.broken(position, `event ${position} differs from the anchored hash`);
      this.anchorSeen = true;
    }
    this.versions.set(streamId, version);
    this.prevHash = hash;
    this.prevPos = position;
    this.events++;
    return undefined;
  }

  /** The version a stream's walked events end at (0: none). */
  headOf(streamId: string): number {
    return this.versions.get(streamId) ?? 0;
  }

  /**
   * streams.version (what listings answer and what an append continues from) against the log's
   * head: the message when they differ; the caller places it at that head event's position.
   */
  streamMismatch(streamId: string, recorded: number): string | undefined {
    const head = this.headOf(streamId);
    return head === recorded
      ? undefined
      : `stream ${streamId} is recorded at version ${recorded} but its events end at ${head}`;
  }

  /** After every row and the backend's own checks: the anchor must have been met. */
  finish(): VerifyReport {
    if (this.anchor && !this.anchorSeen)
      return this.broken(
        this.anchor.position,
        `anchored position ${this.anchor.position} is beyond the chain's head ${this.prevPos}`,
      );
    return { ok: true, events: this.events, headPosition: this.prevPos, headHash: this.prevHash.toString('hex') };
  }
}
