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
import type { KeyObject } from 'node:crypto';
import { chainHash, GENESIS_HASH } from '../canonical';
import {
  AUDIT_STREAM,
  CHECKPOINT_EVENT,
  checkpointSignatureValid,
  KEY_EVENT,
  parseCheckpoint,
  publicKeyFromPem,
  type Checkpoint,
} from './checkpoint';
import { CompactRange, leafHash } from './merkle';

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
const AUDIT_MARK = `"streamId":${JSON.stringify(AUDIT_STREAM)}`;

/**
 * Checks an export against a checkpoint the auditor holds (signed by `key`): the signature, then
 * every line's position (1, 2, 3 …), its chain hash, and at the checkpoint's size the Merkle root
 * and the chain head. Checkpoints found in the log (stream $audit) whose signature holds under
 * `key` or a key published before them are checked as well, so a chain recomputed by someone
 * with database access is placed between the last checkpoint that holds and the first that does not.
 */
export async function verifyExport(file: string, key: KeyObject, checkpoint: Checkpoint): Promise<ExportVerdict> {
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
  const ring: Buffer[] = new Array<Buffer>(RING);
  const tree = new CompactRange();
  let prev: Buffer = GENESIS_HASH;
  let pos = 0;
  let lastGood = 0;
  let root: Buffer | undefined;
  let head: Buffer | undefined;
  if (checkpoint.treeSize === 0) {
    root = tree.root();
    head = GENESIS_HASH;
  }
  for await (const e of exportEntries(file)) {
    if ('bad' in e) return fail(pos, pos + 1, `line ${e.bad} is not an export line`);
    if (e.position !== pos + 1)
      return fail(
        pos,
        pos + 1,
        e.position > pos + 1
          ? `position ${pos + 1} is missing (the next line is position ${e.position}): events deleted`
          : `position ${e.position} follows ${pos}: events reordered or inserted`,
      );
    const h = chainHash(prev, e.text);
    if (h.toString('hex') !== e.hash)
      return fail(pos, e.position, `event ${e.position}: its chain hash does not match its bytes and its predecessor`);
    tree.append(leafHash(e.text));
    prev = h;
    pos = e.position;
    ring[pos % RING] = h;
    if (pos === checkpoint.treeSize) {
      root = tree.root();
      head = h;
      if (
        !root.equals(Buffer.from(checkpoint.rootHash, 'hex')) ||
        !head.equals(Buffer.from(checkpoint.chainHead, 'hex'))
      )
        return fail(
          pos,
          lastGood + 1,
          `the first ${pos} events are not the ones the checkpoint signed (root or chain head differs): ` +
            `an event at or after position ${lastGood + 1} was changed and the chain recomputed`,
        );
      lastGood = pos;
    }
    // only the audit stream's events are parsed (the chain and the tree bind every byte of the others)
    if (e.text.includes(AUDIT_MARK)) {
      let fields: { streamId?: unknown; type?: unknown; data?: unknown };
      try {
        fields = JSON.parse(e.text) as typeof fields;
      } catch {
        return fail(pos, e.position, `event ${e.position}: its bytes are not JSON`);
      }
      const d = (fields.streamId === AUDIT_STREAM ? fields.data : undefined) as Record<string, unknown> | undefined;
      if (fields.type === KEY_EVENT && typeof d?.publicKey === 'string' && typeof d.keyId === 'string') {
        try {
          keys.set(d.keyId, publicKeyFromPem(d.publicKey));
        } catch {
          /* not a key: nothing to check with */
        }
      } else if (fields.type === CHECKPOINT_EVENT) {
        let c: Checkpoint | undefined;
        try {
          c = parseCheckpoint(d);
        } catch {
          c = undefined;
        }
        const k = c && (c.keyId === checkpoint.keyId ? key : keys.get(c.keyId));
        if (c && k && checkpointSignatureValid(c, k) && c.treeSize < pos && pos - c.treeSize < RING) {
          embedded++;
          const at = c.treeSize === 0 ? GENESIS_HASH : ring[c.treeSize % RING];
          if (!at || at.toString('hex') !== c.chainHead)
            return fail(
              pos,
              lastGood + 1,
              `the chain at position ${c.treeSize} is not the one signed in the checkpoint at position ${pos}: ` +
                `an event in ${lastGood + 1}..${c.treeSize} was changed and the chain recomputed`,
            );
          lastGood = Math.max(lastGood, c.treeSize);
        }
      }
    }
  }
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
