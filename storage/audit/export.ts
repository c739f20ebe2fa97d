/**
 * The export an auditor checks offline (docs/audit.md): one JSON line per event, in position order,
 *
 *     {"position":P,"hash":"<chain hash hex>","event":<canonical event bytes>}
 *
 * where the bytes after `"event":` up to the line's final `}` are exactly the event's canonical
 * bytes (storage/canonical.ts): what its chain hash and its Merkle leaf cover, byte for byte.
 * verifyExport recomputes the chain, the tree and the checkpoint's signature in one pass, with
 * memory that does not grow with the log (a compact range and a ring of recent chain hashes).
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import * as crypto from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { GENESIS_HASH } from '../canonical';
import {
  AUDIT_STREAM,
  CHECKPOINT_EVENT,
  checkpointSignatureValid,
  KEY_EVENT,
  parseCheckpoint,
  publicKeyFromPem,
  type Checkpoint,
} from './checkpoint';
import { CompactRange } from './merkle';

export function exportLine(position: number, hash: string, canonicalText: string): string {
  return `{"position":${position},"hash":"${hash}","event":${canonicalText}}\n`;
}

const HEAD = /^\{"position":(\d{1,16}),"hash":"([0-9a-f]{64})","event":/;

export interface ExportEntry {
  position: number;
  hash: string;
  /** The canonical bytes (what the leaf and the chain cover). */
  text: string;
}

export function parseExportLine(line: string): ExportEntry | undefined {
  const m = HEAD.exec(line);
  if (!m || !line.endsWith('}')) return undefined;
  return { position: Number(m[1]), hash: m[2]!, text: line.slice(m[0].length, -1) };
}

/** The lines of an export file, streamed. */
export async function* exportEntries(file: string): AsyncGenerator<ExportEntry | { bad: number; line: string }> {
  const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  let n = 0;
  for await (const line of rl) {
    n++;
    if (line === '') continue;
    yield parseExportLine(line) ?? { bad: n, line };
  }
}

export interface ExportVerdict {
  ok: boolean;
  events: number;
  /** The first position found wrong (or the first that may be: see `detail`). */
  firstBadPosition?: number;
  detail: string;
  rootHash?: string;
  chainHead?: string;
  /** Checkpoints found inside the log and checked on the way. */
  embeddedCheckpoints: number;
}

const RING = 4096;
const AUDIT_MARK = Buffer.from(`"streamId":${JSON.stringify(AUDIT_STREAM)}`);
const HEAD_POSITION = Buffer.from('{"position":');
const HEAD_HASH = Buffer.from(',"hash":"');
const HEAD_EVENT = Buffer.from('","event":');
/** Bytes before the event's: {"position": + digits + ,"hash":" + 64 hex + ","event": */
const HEAD_FIXED = HEAD_POSITION.length + HEAD_HASH.length + 64 + HEAD_EVENT.length;
const READ_BYTES = 4 << 20;

/**
 * SHA-256 of `prefix || bytes` in one call: node:crypto's one-shot hash where the Node has it
 * (20.12+: no Hash object per call, about a third cheaper for an event's few hundred bytes),
 * over a scratch buffer the prefix and the bytes are copied into.
 */
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Buffer }).hash;
class Hasher {
  private scratch = Buffer.alloc(64 * 1024);
  hash(prefix: Uint8Array, bytes: Uint8Array): Buffer {
    if (!oneShot) return crypto.createHash('sha256').update(prefix).update(bytes).digest();
    const n = prefix.length + bytes.length;
    if (n > this.scratch.length) this.scratch = Buffer.alloc(2 * n);
    this.scratch.set(prefix, 0);
    this.scratch.set(bytes, prefix.length);
    return oneShot('sha256', this.scratch.subarray(0, n), 'buffer');
  }
}
const LEAF_PREFIX = Buffer.from([0]);

/** Lowercase hex digit values (-1: not one). */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) HEX['0123456789abcdef'.charCodeAt(i)] = i;

/** The 64 hex digits at `at` spell `hash` (no allocation; a non-digit never matches). */
function hexEquals(buf: Buffer, at: number, hash: Buffer): boolean {
  for (let i = 0; i < 32; i++)
    if (((HEX[buf[at + 2 * i]!]! << 4) | HEX[buf[at + 2 * i + 1]!]!) !== hash[i]) return false;
  return true;
}

/** `bytes` equal `sub` at `at` (no allocation). */
function startsAt(buf: Buffer, at: number, sub: Buffer): boolean {
  if (at + sub.length > buf.length) return false;
  for (let i = 0; i < sub.length; i++) if (buf[at + i] !== sub[i]) return false;
  return true;
}

/**
 * The lines of an export as byte ranges of one reused read buffer (never decoded as a whole:
 * the chain and the leaf cover the bytes as they are), `fn(buf, start, end, lineNumber)`.
 * Memory: the buffer (4 MiB, grown only for a longer line).
 */
function scanLines(file: string, fn: (buf: Buffer, start: number, end: number, line: number) => boolean): void {
  const fd = fs.openSync(file, 'r');
  try {
    let buf = Buffer.allocUnsafe(READ_BYTES);
    let have = 0;
    let line = 0;
    let eof = false;
    while (!eof) {
      if (have === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
      const got = fs.readSync(fd, buf, have, buf.length - have, null);
      if (got === 0) eof = true;
      const end = have + got;
      let at = 0;
      for (;;) {
        let nl = buf.indexOf(10, at);
        if (nl < 0 || nl >= end) {
          if (!eof) break;
          if (at >= end) break;
          nl = end; // a last line without its newline
        }
        line++;
        const stop = nl > at && buf[nl - 1] === 13 ? nl - 1 : nl;
        if (stop > at && !fn(buf, at, stop, line)) return;
        at = nl + 1;
      }
      have = Math.max(0, end - at);
      if (have > 0) buf.copy(buf, 0, at, end);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Checks an export against a checkpoint the auditor holds (signed by `key`): the signature, then
 * every line's position (1, 2, 3 …), its chain hash, and at the checkpoint's size the Merkle root
 * and the chain head. Checkpoints found in the log (stream $audit) whose signature holds under
 * `key` or a key published before them are checked as well, so a chain recomputed by someone
 * with database access is placed between the last checkpoint that holds and the first that does not.
 *
 * Each line is checked on its bytes (a position, a hex hash, the event's bytes hashed as they
 * are); only the audit stream's events are parsed as JSON.
 */
export async function verifyExport(file: string, key: KeyObject, checkpoint: Checkpoint): Promise<ExportVerdict> {
  await Promise.resolve(); // an async function's contract: the walk itself is synchronous I/O
  return verifyExportSync(file, key, checkpoint);
}

function verifyExportSync(file: string, key: KeyObject, checkpoint: Checkpoint): ExportVerdict {
  let embedded = 0;
  const fail = (events: number, position: number, detail: string): ExportVerdict => ({
    ok: false,
    events,
    firstBadPosition: position,
    detail,
    embeddedCheckpoints: embedded,
  });
  if (!checkpointSignatureValid(checkpoint, key))
    return fail(0, 0, `the checkpoint's signature does not hold under the key given (key id ${checkpoint.keyId})`);
  const keys = new Map<string, KeyObject>();
  const trustedUntil = Date.parse(checkpoint.time);
  const ring: Buffer[] = new Array<Buffer>(RING);
  const tree = new CompactRange();
  const hasher = new Hasher();
  let prev: Buffer = GENESIS_HASH;
  let pos = 0;
  let lastGood = 0;
  let root: Buffer | undefined;
  let head: Buffer | undefined;
  let verdict: ExportVerdict | undefined;
  if (checkpoint.treeSize === 0) {
    root = tree.root();
    head = GENESIS_HASH;
  }
  const bad = (line: number) => fail(pos, pos + 1, `line ${line} is not an export line`);
  scanLines(file, (buf, start, end, line) => {
    // {"position":P,"hash":"<64 hex>","event":<bytes>}
    if (end - start < HEAD_FIXED + 2 || !startsAt(buf, start, HEAD_POSITION) || buf[end - 1] !== 0x7d) {
      verdict = bad(line);
      return false;
    }
    let at = start + HEAD_POSITION.length;
    let position = 0;
    const digits = at;
    for (let c = buf[at]!; c >= 0x30 && c <= 0x39 && at - digits < 16; c = buf[++at]!)
      position = position * 10 + (c - 0x30);
    if (at === digits || !startsAt(buf, at, HEAD_HASH)) {
      verdict = bad(line);
      return false;
    }
    const hashAt = at + HEAD_HASH.length;
    const eventAt = hashAt + 64 + HEAD_EVENT.length;
    if (!startsAt(buf, hashAt + 64, HEAD_EVENT) || eventAt > end - 1) {
      verdict = bad(line);
      return false;
    }
    if (position !== pos + 1) {
      verdict = fail(
        pos,
        pos + 1,
        position < 1
          ? `a row at position ${position}, before the log's first: inserted`
          : position > pos + 1
            ? `position ${pos + 1} is missing (the next line is position ${position}): events deleted`
            : `position ${position} follows ${pos}: events reordered or inserted`,
      );
      return false;
    }
    const text = buf.subarray(eventAt, end - 1);
    const h = hasher.hash(prev, text);
    if (!hexEquals(buf, hashAt, h)) {
      if (!/^[0-9a-f]{64}$/.test(buf.toString('latin1', hashAt, hashAt + 64))) verdict = bad(line);
      else {
        const moved = movedBy(text, position, buf.toString('latin1', hashAt, hashAt + 64), ring, hasher);
        verdict = moved
          ? fail(
              pos,
              position - moved,
              `event ${position} carries the hash it had at position ${position - moved}: ` +
                `${moved} event(s) inserted at ${position - moved} (chained to their predecessor, not to what follows)`,
            )
          : fail(pos, position, `event ${position}: its chain hash does not match its bytes and its predecessor`);
      }
      return false;
    }
    tree.append(hasher.hash(LEAF_PREFIX, text));
    prev = h;
    pos = position;
    ring[pos % RING] = h;
    if (pos === checkpoint.treeSize) {
      root = tree.root();
      head = h;
      if (
        !root.equals(Buffer.from(checkpoint.rootHash, 'hex')) ||
        !head.equals(Buffer.from(checkpoint.chainHead, 'hex'))
      ) {
        verdict = fail(
          pos,
          lastGood + 1,
          `the first ${pos} events are not the ones the checkpoint signed (root or chain head differs): ` +
            `an event at or after position ${lastGood + 1} was changed and the chain recomputed`,
        );
        return false;
      }
      lastGood = pos;
    }
    // only the audit stream's events are parsed (the chain and the tree bind every byte of the others)
    if (text.indexOf(AUDIT_MARK) >= 0) {
      const found = auditEvent(text.toString('utf8'));
      if (found === undefined) return true;
      if (found === 'not-json') {
        verdict = fail(pos, position, `event ${position}: its bytes are not JSON`);
        return false;
      }
      if (found.kind === 'key') {
        keys.set(found.keyId, found.key);
        return true;
      }
      const c = found.checkpoint;
      const k = c.keyId === checkpoint.keyId ? key : keys.get(c.keyId);
      if (k && checkpointSignatureValid(c, k) && c.treeSize < pos && pos - c.treeSize < RING) {
        embedded++;
        const at = c.treeSize === 0 ? GENESIS_HASH : ring[c.treeSize % RING];
        if (!at || at.toString('hex') !== c.chainHead) {
          verdict = fail(
            pos,
            lastGood + 1,
            `the chain at position ${c.treeSize} is not the one signed in the checkpoint at position ${pos}: ` +
              `an event in ${lastGood + 1}..${c.treeSize} was changed and the chain recomputed`,
          );
          return false;
        }
        // only a checkpoint signed no later than the auditor's anchors "good so far": after a
        // restore from an older copy the service signs the forked log too, under the same key
        if (Date.parse(c.time) <= trustedUntil) lastGood = Math.max(lastGood, c.treeSize);
      }
    }
    return true;
  });
  if (verdict) return verdict;
  if (pos < checkpoint.treeSize)
    return fail(
      pos,
      pos + 1,
      `the log ends at position ${pos}, behind the checkpoint's ${checkpoint.treeSize} events: rolled back or truncated`,
    );
  return {
    ok: true,
    events: pos,
    detail: `intact: ${pos} events; the first ${checkpoint.treeSize} are those of the checkpoint (root ${checkpoint.rootHash})`,
    rootHash: root!.toString('hex'),
    chainHead: head!.toString('hex'),
    embeddedCheckpoints: embedded,
  };
}

/**
 * After a chain break at `position`: whether the event is one moved up by k inserted events
 * whose own hashes were chained (so the chain held until here), i.e. its stored hash is the one
 * it had at position − k (its version j lower when j of them are of its stream), chained to the
 * hash held there. k (1..16) when so, else 0. Only on the failure path: it makes "first bad
 * position" the first inserted event instead of the one after.
 */
function movedBy(text: Buffer, position: number, storedHex: string, ring: Buffer[], hasher: Hasher): number {
  const s = text.toString('utf8');
  // the envelope's position comes after data and metadata (the last match), its version last
  const field = `,"position":${position},"schemaVersion":`;
  const at = s.lastIndexOf(field);
  const v = /,"version":(\d{1,15})\}$/.exec(s);
  if (at < 0 || !v) return 0;
  const version = Number(v[1]);
  const middle = s.slice(at + field.length, v.index);
  for (let k = 1; k <= 16 && position - k - 1 >= 0; k++) {
    const before = position - k - 1 === 0 ? GENESIS_HASH : ring[(position - k - 1) % RING];
    if (!before) return 0;
    for (let j = 0; j <= k && version - j >= 1; j++) {
      const old =
        s.slice(0, at) + `,"position":${position - k},"schemaVersion":` + middle + `,"version":${version - j}}`;
      if (hasher.hash(before, Buffer.from(old, 'utf8')).toString('hex') === storedHex) return k;
    }
  }
  return 0;
}

/** A key or a checkpoint of the audit stream, from an event's canonical text. */
function auditEvent(
  text: string,
):
  | { kind: 'key'; keyId: string; key: KeyObject }
  | { kind: 'checkpoint'; checkpoint: Checkpoint }
  | 'not-json'
  | undefined {
  let fields: { streamId?: unknown; type?: unknown; data?: unknown };
  try {
    fields = JSON.parse(text) as typeof fields;
  } catch {
    return 'not-json';
  }
  const d = (fields.streamId === AUDIT_STREAM ? fields.data : undefined) as Record<string, unknown> | undefined;
  if (fields.type === KEY_EVENT && typeof d?.publicKey === 'string' && typeof d.keyId === 'string') {
    try {
      return { kind: 'key', keyId: d.keyId, key: publicKeyFromPem(d.publicKey) };
    } catch {
      return undefined; // not a key: nothing to check with
    }
  }
  if (fields.type === CHECKPOINT_EVENT) {
    try {
      return { kind: 'checkpoint', checkpoint: parseCheckpoint(d) };
    } catch {
      return undefined;
    }
  }
  return undefined;
}
