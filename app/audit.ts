/**
 * The audit log over any EventStore (docs/audit.md): the RFC 9162 Merkle tree of every event,
 * built from the feed and kept in memory (64 bytes per event); signed checkpoints stored as
 * events of the stream `$audit` (kind 'audit'), so every backend keeps them and the chain covers
 * them; proofs; and the service's check of itself against its latest checkpoint.
 */
import * as fs from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { canonicalEventText, chainHash, GENESIS_HASH } from '../storage/canonical';
import type { EventStore, RawEvent, VerifyReport } from '../storage/event-store';
import {
  AUDIT_KIND,
  AUDIT_STREAM,
  CHECKPOINT_EVENT,
  checkpointSignatureValid,
  KEY_EVENT,
  parseCheckpoint,
  publicKeyFromPem,
  signCheckpoint,
  signingKeyFromPem,
  type Checkpoint,
  type PublishedKey,
  type SigningKey,
} from '../storage/audit/checkpoint';
import { leafHash, MerkleTree } from '../storage/audit/merkle';
import type { DerivedReport } from './derived-check';

export interface AuditOptions {
  /** PEM file of the Ed25519 private key; without one no checkpoint is signed. */
  signingKeyFile?: string;
  /** The key's PEM itself, when the caller has read it already (it wins over the file). */
  signingKeyPem?: Buffer;
  /** A checkpoint once this many events followed the last one (default 1000). */
  every?: number;
  /** …or once this many seconds passed with new events (default 60); also the self-check period. */
  seconds?: number;
  /** Told of a failed self-check (log it loudly), and of other trouble. */
  onAlarm?: (detail: string, err?: unknown) => void;
  /** What verify checks besides the log: snapshots and labels against the folds (app/derived-check.ts). */
  checkDerived?: () => Promise<DerivedReport>;
}

export interface AuditStatus {
  state: 'ok' | 'mismatch' | 'unchecked';
  detail?: string;
  checkedAt?: string;
  checkpoint?: { treeSize: number; rootHash: string; keyId: string; time: string };
}

export interface AuditVerifyReport extends VerifyReport {
  /** Snapshots and labels folded and compared (when the service gave a check for them). */
  derived?: DerivedReport;
  /** The checkpoint the walk was anchored to, and whether the log still matches it. */
  checkpoint?: {
    treeSize: number;
    rootHash: string;
    chainHead: string;
    keyId: string;
    time: string;
    ok: boolean;
    detail?: string;
  };
}

export class AuditError extends Error {
  constructor(
    readonly kind: 'no-signing-key' | 'not-found' | 'range',
    message: string,
  ) {
    super(message);
    this.name = 'AuditError';
  }
}

const PAGE = 10_000;
const PAGE_BYTES = 32 * 1024 * 1024;
/** Events re-read from the store by a periodic self-check, before the latest checkpoint. */
const RECHECK = 1000;

export class AuditLog {
  private readonly tree = new MerkleTree();
  private chainHeadHash: Buffer = GENESIS_HASH;
  private readonly keys = new Map<string, PublishedKey & { key: KeyObject }>();
  private readonly checkpoints: Array<Checkpoint & { position: number }> = [];
  private lastUserPosition = 0;
  private syncing: Promise<void> | undefined;
  private syncAgain = false;
  private checkpointing: Promise<Checkpoint> | undefined;
  private readonly signing: SigningKey | undefined;
  private readonly every: number;
  private readonly seconds: number;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private current: AuditStatus = { state: 'unchecked' };
  private readonly onAlarm: (detail: string, err?: unknown) => void;
  private readonly checkDerived: (() => Promise<DerivedReport>) | undefined;

  constructor(
    private readonly store: EventStore,
    opts: AuditOptions = {},
  ) {
    const pem = opts.signingKeyPem ?? (opts.signingKeyFile ? fs.readFileSync(opts.signingKeyFile) : undefined);
    this.signing = pem ? signingKeyFromPem(pem) : undefined;
    this.every = opts.every ?? 1000;
    this.seconds = opts.seconds ?? 60;
    this.onAlarm = opts.onAlarm ?? (() => undefined);
    this.checkDerived = opts.checkDerived;
  }

  /** With a signing key: checkpoints every N events or T seconds, and the self-check (at start and every T). */
  start(): void {
    if (!this.signing || this.timer) return;
    this.unsubscribe = this.store.onCommit(() => this.afterCommit());
    this.timer = setInterval(() => void this.tick(), this.seconds * 1000);
    this.timer.unref();
    void this.selfCheck(true).catch((e) => this.onAlarm('the audit self-check could not run', e));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.pendingSync) clearTimeout(this.pendingSync);
    this.pendingSync = undefined;
    this.timer = undefined;
    this.unsubscribe?.();
  }

  get signingKeyId(): string | undefined {
    return this.signing?.keyId;
  }

  status(): AuditStatus {
    return this.current;
  }

  /** Reads the events the tree does not have yet. */
  sync(): Promise<void> {
    if (this.syncing) {
      this.syncAgain = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      try {
        do {
          this.syncAgain = false;
          for (let i = 0; i < 1e9; i++) {
            const page = await this.store.readFeedRaw(this.tree.size, PAGE, PAGE_BYTES);
            for (const e of page.events) this.add(e);
            if (!page.more || page.events.length === 0) break;
          }
        } while (this.syncAgain);
      } finally {
        this.syncing = undefined;
      }
    })();
    return this.syncing;
  }

  private add(e: RawEvent): void {
    const n = this.tree.size;
    if (e.position !== n + 1) throw new Error(`the log has position ${e.position} after ${n}: events missing`);
    const text = canonicalEventText(e);
    const h = chainHash(this.chainHeadHash, text);
    if (h.toString('hex') !== e.hash) {
      this.alarm(`event ${e.position}: its chain hash does not match its bytes and its predecessor`);
      throw new Error(`event ${e.position} breaks the hash chain`);
    }
    this.tree.appendLeafHash(leafHash(text));
    this.chainHeadHash = h;
    if (e.streamId !== AUDIT_STREAM) {
      this.lastUserPosition = e.position;
      return;
    }
    try {
      const d = JSON.parse(e.dataText) as Record<string, unknown>;
      if (e.type === KEY_EVENT && typeof d.publicKey === 'string' && typeof d.keyId === 'string') {
        this.keys.set(d.keyId, {
          keyId: d.keyId,
          algorithm: 'Ed25519',
          publicKey: d.publicKey,
          key: publicKeyFromPem(d.publicKey),
        });
      } else if (e.type === CHECKPOINT_EVENT) {
        this.checkpoints.push({ ...parseCheckpoint(d), position: e.position });
      }
    } catch (err) {
      this.onAlarm(`audit event ${e.position} could not be read`, err);
    }
  }

  private pendingSync: NodeJS.Timeout | undefined;

  /** The tree catches up at most every 100 ms, in pages: a commit pays nothing for it. */
  private afterCommit(): void {
    if (this.pendingSync) return;
    this.pendingSync = setTimeout(() => {
      this.pendingSync = undefined;
      this.catchUp();
    }, 100);
    this.pendingSync.unref();
  }

  private catchUp(): void {
    void this.sync()
      .then(() => {
        const last = this.checkpoints.at(-1)?.treeSize ?? 0;
        if (this.lastUserPosition - last >= this.every) return this.checkpoint();
      })
      .catch((e) => this.onAlarm('checkpointing failed', e));
  }

  private async tick(): Promise<void> {
    try {
      await this.sync();
      const last = this.checkpoints.at(-1)?.treeSize ?? 0;
      if (this.lastUserPosition > last) await this.checkpoint();
      await this.selfCheck(false);
    } catch (e) {
      this.onAlarm('the periodic checkpoint or self-check failed', e);
    }
  }

  /** Signs and stores a checkpoint of the log as it is now (one at a time). */
  checkpoint(): Promise<Checkpoint> {
    const key = this.signing;
    if (!key)
      return Promise.reject(new AuditError('no-signing-key', 'no signing key is configured (CPREG_SIGNING_KEY_FILE)'));
    this.checkpointing ??= (async () => {
      try {
        await this.sync();
        const treeSize = this.tree.size;
        const c = signCheckpoint(
          {
            treeSize,
            rootHash: this.tree.root(treeSize).toString('hex'),
            chainHead: this.chainHeadHash.toString('hex'),
            time: new Date().toISOString(),
          },
          key,
        );
        const events = [];
        if (!this.keys.has(key.keyId)) events.push({ type: KEY_EVENT, schemaVersion: 1, data: key.published });
        events.push({ type: CHECKPOINT_EVENT, schemaVersion: 1, data: c });
        await this.store.append({
          streamId: AUDIT_STREAM,
          expectedVersion: 'any',
          kind: AUDIT_KIND,
          events,
          metadata: { actor: 'cpreg-ledger' },
        });
        await this.sync();
        return c;
      } finally {
        this.checkpointing = undefined;
      }
    })();
    return this.checkpointing;
  }

  async latestCheckpoint(): Promise<Checkpoint | undefined> {
    await this.sync();
    const c = this.checkpoints.at(-1);
    return c && strip(c);
  }

  async checkpointAt(treeSize: number): Promise<Checkpoint | undefined> {
    await this.sync();
    const c = this.checkpoints.find((x) => x.treeSize === treeSize);
    return c && strip(c);
  }

  /** Every key that signed (or will sign) a checkpoint: old checkpoints stay verifiable. */
  async publishedKeys(): Promise<Array<PublishedKey & { current: boolean }>> {
    await this.sync();
    const out = [...this.keys.values()].map(({ keyId, algorithm, publicKey }) => ({
      keyId,
      algorithm,
      publicKey,
      current: keyId === this.signing?.keyId,
    }));
    if (this.signing && !this.keys.has(this.signing.keyId)) out.push({ ...this.signing.published, current: true });
    return out;
  }

  async treeSize(): Promise<number> {
    await this.sync();
    return this.tree.size;
  }

  async inclusion(position: number, treeSize?: number) {
    await this.sync();
    const n = treeSize ?? this.tree.size;
    this.range(n);
    if (!Number.isSafeInteger(position) || position < 1 || position > n)
      throw new AuditError('range', `position must be within 1..${n}`);
    return {
      position,
      leafIndex: position - 1,
      treeSize: n,
      leafHash: this.tree.leafHashAt(position - 1).toString('hex'),
      rootHash: this.tree.root(n).toString('hex'),
      proof: this.tree.inclusionProof(position - 1, n).map((b) => b.toString('hex')),
    };
  }

  async consistency(from: number, to?: number) {
    await this.sync();
    const n = to ?? this.tree.size;
    this.range(n);
    if (!Number.isSafeInteger(from) || from < 1 || from > n)
      throw new AuditError('range', `from must be within 1..${n}`);
    return {
      from,
      to: n,
      fromRoot: this.tree.root(from).toString('hex'),
      toRoot: this.tree.root(n).toString('hex'),
      proof: this.tree.consistencyProof(from, n).map((b) => b.toString('hex')),
    };
  }

  private range(n: number): void {
    if (!Number.isSafeInteger(n) || n < 1 || n > this.tree.size)
      throw new AuditError('range', `treeSize must be within 1..${this.tree.size}`);
  }

  /** The store's own walk anchored to the latest checkpoint, and the tree against its signed root. */
  async verify(): Promise<AuditVerifyReport> {
    await this.sync().catch(() => undefined);
    const c = this.checkpoints.at(-1);
    const walked = await this.store.verify(
      c && c.treeSize > 0 ? { position: c.treeSize, hash: c.chainHead } : undefined,
    );
    const derived = this.checkDerived ? await this.checkDerived() : undefined;
    const report: AuditVerifyReport = derived ? { ...walked, derived } : walked;
    if (derived && !derived.ok) {
      const p = derived.problems[0]!;
      this.onAlarm(`AUDIT MISMATCH: ${p.what} of ${p.streamId}@${p.version}: ${p.detail}`);
      if (report.ok) {
        report.ok = false;
        report.reason = `${p.what} of ${p.streamId} at version ${p.version}: ${p.detail}`;
      }
    }
    if (!c) return report;
    const check = this.checkAgainst(c);
    return {
      ...report,
      checkpoint: {
        treeSize: c.treeSize,
        rootHash: c.rootHash,
        chainHead: c.chainHead,
        keyId: c.keyId,
        time: c.time,
        ok: report.ok && check === undefined,
        ...(check ? { detail: check } : {}),
      },
    };
  }

  private checkAgainst(c: Checkpoint): string | undefined {
    const k = this.keys.get(c.keyId)?.key ?? (this.signing?.keyId === c.keyId ? this.signing.publicKey : undefined);
    if (!k) return `checkpoint ${c.treeSize}: its key ${c.keyId} is not published`;
    if (!checkpointSignatureValid(c, k)) return `checkpoint ${c.treeSize}: its signature does not hold`;
    if (c.treeSize > this.tree.size) return `the log has ${this.tree.size} events, behind checkpoint ${c.treeSize}`;
    if (this.tree.root(c.treeSize).toString('hex') !== c.rootHash)
      return `the first ${c.treeSize} events are not those checkpoint ${c.treeSize} signed`;
    return undefined;
  }

  /**
   * At start (`full`: the whole tree was just built from the store) and periodically: the
   * latest checkpoint's signature and root against the tree, then the newest events re-read
   * from the store (from RECHECK before the checkpoint to the head) against the tree's leaves,
   * so an edit, a deletion or a rollback behind the service's back is noticed.
   */
  async selfCheck(full: boolean): Promise<AuditStatus> {
    await this.sync();
    const c = this.checkpoints.at(-1);
    const at = new Date().toISOString();
    if (!c) return (this.current = { state: 'unchecked', detail: 'no checkpoint yet', checkedAt: at });
    let problem = this.checkAgainst(c);
    if (!problem && !full) problem = await this.recheck(Math.max(0, c.treeSize - RECHECK));
    this.current = {
      state: problem ? 'mismatch' : 'ok',
      ...(problem ? { detail: problem } : {}),
      checkedAt: at,
      checkpoint: { treeSize: c.treeSize, rootHash: c.rootHash, keyId: c.keyId, time: c.time },
    };
    if (problem) this.alarm(problem);
    return this.current;
  }

  private async recheck(after: number): Promise<string | undefined> {
    const end = this.tree.size;
    let pos = after;
    for (let i = 0; i < 1e9 && pos < end; i++) {
      const page = await this.store.readFeedRaw(pos, PAGE, PAGE_BYTES);
      for (const e of page.events) {
        if (e.position > end) return undefined;
        if (e.position !== pos + 1) return `position ${pos + 1} is no longer in the store`;
        if (!leafHash(canonicalEventText(e)).equals(this.tree.leafHashAt(pos)))
          return `event ${e.position} differs from the one the checkpoints cover`;
        pos = e.position;
      }
      if (!page.more || page.events.length === 0) break;
    }
    return pos < end ? `the store ends at position ${pos}, behind the ${end} events seen` : undefined;
  }

  private alarm(detail: string): void {
    this.current = { ...this.current, state: 'mismatch', detail, checkedAt: new Date().toISOString() };
    this.onAlarm(`AUDIT MISMATCH: ${detail}`);
  }
}

function strip(c: Checkpoint & { position: number }): Checkpoint {
  return {
    treeSize: c.treeSize,
    rootHash: c.rootHash,
    chainHead: c.chainHead,
    time: c.time,
    keyId: c.keyId,
    signature: c.signature,
  };
}
