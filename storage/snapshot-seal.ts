/**
 * What binds a snapshot to the log, for both backends (docs/storage.md, Snapshots).
 *
 * A snapshot row carries its state's SHA-256 under a keyed seal: HMAC-SHA-256 over
 *
 *     cpreg-ledger snapshot v1\n<streamId>\n<version>\n<event hash hex>\n<schemaVersion>\n<sha256(data) hex>\n
 *
 * stored in `checksum` as keyId (8 bytes) || mac (32 bytes). A plain hash would not do: whoever
 * can edit the row can recompute any unkeyed hash, and a read would then serve a state no event
 * holds. The key never touches the database: it is derived from the signing key
 * (CPREG_SIGNING_KEY_FILE), so every node with that key shares snapshots and they survive a
 * restart; without one, a SQLite store keeps a random key in a file beside the database
 * (besideDatabase), a PostgreSQL node one of its own (snapshots of other processes are then
 * folded over, not trusted, and rewritten). A row sealed under another key is not an alarm (it is
 * merely not ours to trust); one sealed under ours that does not hold is.
 */
import { createHash, createHmac, createPrivateKey, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { canonicalJson } from './canonical';
import type { SnapshotInput, SnapshotListing, StoredSnapshot } from './event-store';

const KEY_ID_BYTES = 8;

export type SealVerdict = 'ok' | 'foreign' | 'bad';

/** A snapshot row as both backends read it, with the hash its event has in the log now (if any). */
export interface SnapshotRow {
  version: number;
  schema_version: number;
  data: string;
  event_hash: Buffer;
  checksum: Buffer;
  current_hash: Buffer | null;
}

/** Why a snapshot was not handed out, for the loud log and the counter. */
export interface SnapshotRejection {
  streamId: string;
  version: number;
  reason: string;
}

export function stateHash(dataText: string): Buffer {
  return createHash('sha256').update(dataText, 'utf8').digest();
}

export class SnapshotSeal {
  private readonly key: Buffer;
  readonly keyId: Buffer;

  constructor(key: Buffer = PROCESS_KEY) {
    if (key.length < 16) throw new Error('a snapshot key needs at least 16 bytes');
    this.key = key;
    this.keyId = createHash('sha256').update('cpreg-ledger snapshot key id\n').update(key).digest().subarray(0, 8);
  }

  /**
   * Without a signing key, for one SQLite file: a random key kept in a file beside it (made on first
   * use, readable by its owner only), so snapshots survive a restart. It guards against whoever can
   * write the database but not read that file; an unreadable or unwritable folder gives the
   * process's own key (snapshots then last as long as the process).
   */
  static besideDatabase(dbFile: string): SnapshotSeal {
    const file = `${dbFile}.snapshot-key`;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      if (!fs.existsSync(file)) fs.writeFileSync(file, randomBytes(32), { mode: 0o600, flag: 'wx' });
      return new SnapshotSeal(fs.readFileSync(file));
    } catch {
      return new SnapshotSeal();
    }
  }

  /** The key every node holding the checkpoint signing key derives alike. */
  static fromSigningKeyPem(pem: string | Buffer): SnapshotSeal {
    const der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
    return new SnapshotSeal(Buffer.from(hkdfSync('sha256', der, 'cpreg-ledger', 'snapshot seal v1', 32)));
  }

  private mac(streamId: string, version: number, eventHash: Buffer, schemaVersion: number, dataText: string): Buffer {
    return createHmac('sha256', this.key)
      .update(
        `cpreg-ledger snapshot v1\n${streamId}\n${version}\n${eventHash.toString('hex')}\n${schemaVersion}\n` +
          `${stateHash(dataText).toString('hex')}\n`,
      )
      .digest();
  }

  seal(streamId: string, version: number, eventHash: Buffer, schemaVersion: number, dataText: string): Buffer {
    return Buffer.concat([this.keyId, this.mac(streamId, version, eventHash, schemaVersion, dataText)]);
  }

  check(
    streamId: string,
    version: number,
    eventHash: Buffer,
    schemaVersion: number,
    dataText: string,
    sealed: Buffer,
  ): SealVerdict {
    if (sealed.length !== KEY_ID_BYTES + 32 || !sealed.subarray(0, KEY_ID_BYTES).equals(this.keyId)) return 'foreign';
    const mac = this.mac(streamId, version, eventHash, schemaVersion, dataText);
    return timingSafeEqual(mac, sealed.subarray(KEY_ID_BYTES)) ? 'ok' : 'bad';
  }
}

/** One key per process when none is given: the stores of one process share their snapshots. */
const PROCESS_KEY = randomBytes(32);

/** What a backend writes for a snapshot of the event whose chain hash is `eventHash`. */
export function snapshotRecord(seal: SnapshotSeal, s: SnapshotInput, eventHash: Buffer) {
  const dataText = canonicalJson(s.data);
  return { dataText, checksum: seal.seal(s.streamId, s.version, eventHash, s.schemaVersion, dataText) };
}

/** What a backend counts of the rows it passed over (its stats). */
export interface SnapshotTally {
  /** Rows refused as damaged or stale. */
  skipped: number;
  /** Rows sealed under another key. */
  foreign: number;
}

/**
 * The rows a backend read (newest first) that may be handed out: the event they cover must still
 * have the hash they were folded from, and the seal must hold under our key. A row under another
 * key is passed over quietly; any other disagreement is reported through `reject`. Both are
 * counted in `tally`.
 */
export function usableSnapshots(
  seal: SnapshotSeal,
  streamId: string,
  rows: readonly SnapshotRow[],
  reject: (r: SnapshotRejection) => void,
  tally: SnapshotTally,
): StoredSnapshot[] {
  const out: StoredSnapshot[] = [];
  for (const r of rows) {
    const why = problemOf(seal, streamId, r);
    if (why === 'foreign') {
      tally.foreign++;
      continue;
    }
    let data: unknown;
    if (why === undefined) {
      try {
        data = JSON.parse(r.data);
      } catch {
        data = undefined;
      }
    }
    if (data === undefined) {
      tally.skipped++;
      reject({ streamId, version: r.version, reason: why ?? 'its state is not JSON' });
      continue;
    }
    out.push({ streamId, version: r.version, schemaVersion: r.schema_version, data });
  }
  return out;
}

function problemOf(seal: SnapshotSeal, streamId: string, r: SnapshotRow): string | 'foreign' | undefined {
  if (r.current_hash === null) return `the log has no event ${streamId}@${r.version}`;
  if (!r.current_hash.equals(r.event_hash))
    return `event ${streamId}@${r.version} no longer has the hash the snapshot was folded from`;
  const v = seal.check(streamId, r.version, r.event_hash, r.schema_version, r.data, r.checksum);
  if (v === 'foreign') return 'foreign';
  return v === 'bad'
    ? `its state or binding was changed after it was sealed (state sha256 ${stateHash(r.data).toString('hex')})`
    : undefined;
}

/** The rows of one stream as an audit sees them (bound and sealed, or not). */
export function snapshotListing(seal: SnapshotSeal, streamId: string, rows: readonly SnapshotRow[]): SnapshotListing[] {
  return rows.map((r) => ({
    streamId,
    version: r.version,
    schemaVersion: r.schema_version,
    dataText: r.data,
    bound: r.current_hash !== null && r.current_hash.equals(r.event_hash),
    seal: seal.check(streamId, r.version, r.event_hash, r.schema_version, r.data, r.checksum),
  }));
}
