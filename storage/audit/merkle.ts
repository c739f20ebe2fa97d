/**
 * The Merkle tree over the log, RFC 9162 §2.1 hashing (the same as RFC 6962): a leaf hash is
 * SHA-256(0x00 || leaf bytes), an interior node SHA-256(0x01 || left || right), the empty tree's
 * root SHA-256(""). The leaf bytes of event at position p are its canonical event bytes
 * (storage/canonical.ts canonicalEventText, the bytes the chain hashes): leaf index p − 1.
 *
 * `MerkleTree` keeps every complete subtree's hash (level k holds ⌊n / 2^k⌋ nodes): 64 bytes per
 * leaf in all, appends cost one hash amortised, and a root, an inclusion proof or a consistency
 * proof of any size up to n costs O(log n) lookups and at most O(log n) hashes.
 */
import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';

export const EMPTY_ROOT: Buffer = createHash('sha256').digest();
const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

export function leafHash(leaf: Uint8Array | string): Buffer {
  const h = createHash('sha256').update(LEAF);
  return (typeof leaf === 'string' ? h.update(leaf, 'utf8') : h.update(leaf)).digest();
}

/** node:crypto's one-shot hash (Node 20.12+): no Hash object per node. */
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Buffer }).hash;
const NODE_BYTES = Buffer.alloc(65, 1);

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (!oneShot || left.length !== 32 || right.length !== 32)
    return createHash('sha256').update(NODE).update(left).update(right).digest();
  NODE_BYTES.set(left, 1);
  NODE_BYTES.set(right, 33);
  return oneShot('sha256', NODE_BYTES, 'buffer');
}

/** The largest power of two strictly below n (n ≥ 2). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Growable array of 32-byte hashes. */
class HashArray {
  private buf = Buffer.alloc(32 * 1024);
  length = 0;
  push(h: Uint8Array): void {
    if ((this.length + 1) * 32 > this.buf.length) {
      const bigger = Buffer.alloc(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, this.length * 32);
      this.buf = bigger;
    }
    this.buf.set(h, this.length * 32);
    this.length++;
  }
  at(i: number): Buffer {
    return this.buf.subarray(i * 32, i * 32 + 32);
  }
  truncate(n: number): void {
    this.length = Math.min(this.length, n);
  }
}

export class MerkleTree {
  private readonly levels: HashArray[] = [new HashArray()];

  get size(): number {
    return this.levels[0]!.length;
  }

  /** Appends one leaf hash (already leafHash'ed). */
  appendLeafHash(h: Uint8Array): void {
    let level = 0;
    let idx = this.levels[0]!.length;
    this.levels[0]!.push(h);
    while (idx % 2 === 1) {
      const lv = this.levels[level]!;
      const parent = nodeHash(lv.at(idx - 1), lv.at(idx));
      level++;
      if (!this.levels[level]) this.levels[level] = new HashArray();
      this.levels[level]!.push(parent);
      idx = idx >> 1;
    }
  }

  leafHashAt(index: number): Buffer {
    return Buffer.from(this.levels[0]!.at(index));
  }

  /** Forgets leaves from `n` on (a rebuild after the log was found to differ). */
  truncate(n: number): void {
    for (let k = 0; k < this.levels.length; k++) this.levels[k]!.truncate(Math.floor(n / 2 ** k));
  }

  /** MTH(D[lo:hi]) for the ranges RFC 9162's recursion visits (lo a multiple of the split). */
  private mth(lo: number, hi: number): Buffer {
    const n = hi - lo;
    if (n === 0) return EMPTY_ROOT;
    if ((n & (n - 1)) === 0 && lo % n === 0) {
      const level = Math.log2(n);
      return Buffer.from(this.levels[level]!.at(lo / n));
    }
    const k = splitPoint(n);
    return nodeHash(this.mth(lo, lo + k), this.mth(lo + k, hi));
  }

  /** Root of the tree of the first `treeSize` leaves. */
  root(treeSize = this.size): Buffer {
    this.check(treeSize);
    return this.mth(0, treeSize);
  }

  /** RFC 9162 §2.1.3.1 PATH(index, D[0:treeSize]), leaf-side first. */
  inclusionProof(index: number, treeSize: number): Buffer[] {
    this.check(treeSize);
    if (!(index >= 0 && index < treeSize)) throw new RangeError(`leaf index ${index} is not below ${treeSize}`);
    const out: Buffer[] = [];
    let lo = 0;
    let hi = treeSize;
    const stack: Buffer[] = [];
    while (hi - lo > 1) {
      const k = splitPoint(hi - lo);
      if (index - lo < k) {
        stack.push(this.mth(lo + k, hi));
        hi = lo + k;
      } else {
        stack.push(this.mth(lo, lo + k));
        lo = lo + k;
      }
    }
    for (let i = stack.length - 1; i >= 0; i--) out.push(stack[i]!);
    return out;
  }

  /** RFC 9162 §2.1.4.1 PROOF(m, D[0:n]). */
  consistencyProof(m: number, n: number): Buffer[] {
    this.check(n);
    if (!(m >= 1 && m <= n)) throw new RangeError(`tree size ${m} is not within 1..${n}`);
    const stack: Buffer[] = [];
    let lo = 0;
    let hi = n;
    let mm = m;
    let b = true;
    for (;;) {
      const size = hi - lo;
      if (mm === size) {
        if (!b) stack.push(this.mth(lo, hi));
        break;
      }
      const k = splitPoint(size);
      if (mm <= k) {
        stack.push(this.mth(lo + k, hi));
        hi = lo + k;
      } else {
        stack.push(this.mth(lo, lo + k));
        lo = lo + k;
        mm -= k;
        b = false;
      }
    }
    return stack.reverse();
  }

  private check(treeSize: number): void {
    if (!Number.isSafeInteger(treeSize) || treeSize < 0 || treeSize > this.size)
      throw new RangeError(`tree size ${treeSize} is beyond the log's ${this.size}`);
  }
}

/** RFC 9162 §2.1.3.2: does `proof` show leaf `index` (hash `leaf`) in the tree of `treeSize` with `root`? */
export function verifyInclusion(
  index: number,
  treeSize: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (index >= treeSize || index < 0) return false;
  let fn = index;
  let sn = treeSize - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(Buffer.from(root));
}

/** RFC 9162 §2.1.4.2: is the tree of size `second` with `secondRoot` an extension of `first`/`firstRoot`? */
export function verifyConsistency(
  first: number,
  second: number,
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  const fr = Buffer.from(firstRoot);
  const sr = Buffer.from(secondRoot);
  if (first < 1 || first > second) return false;
  if (first === second) return proof.length === 0 && fr.equals(sr);
  if (proof.length === 0) return false;
  let path = proof.map((p) => Buffer.from(p));
  if ((first & (first - 1)) === 0) path = [fr, ...path];
  if (path.length === 0) return false;
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let f: Buffer = path[0]!;
  let s: Buffer = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      f = nodeHash(c, f);
      s = nodeHash(c, s);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      s = nodeHash(s, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return f.equals(fr) && s.equals(sr) && sn === 0;
}

/** A streaming root (no proofs): O(log n) memory, for offline verification of a long export. */
export class CompactRange {
  private readonly stack: Buffer[] = [];
  private readonly sizes: number[] = [];
  size = 0;
  append(h: Buffer): void {
    let node = h;
    let sz = 1;
    while (this.sizes.length && this.sizes[this.sizes.length - 1] === sz) {
      node = nodeHash(this.stack.pop()!, node);
      this.sizes.pop();
      sz *= 2;
    }
    this.stack.push(node);
    this.sizes.push(sz);
    this.size++;
  }
  root(): Buffer {
    if (this.stack.length === 0) return EMPTY_ROOT;
    let r = this.stack[this.stack.length - 1]!;
    for (let i = this.stack.length - 2; i >= 0; i--) r = nodeHash(this.stack[i]!, r);
    return r;
  }
}
