import fc from 'fast-check';
import { createHash } from 'node:crypto';
import {
  CompactRange,
  EMPTY_ROOT,
  leafHash,
  MerkleTree,
  nodeHash,
  splitPoint,
  verifyConsistency,
  verifyInclusion,
} from '../../storage/audit/merkle';

// Published known answers: RFC 6962 test vectors as certificate-transparency and Trillian ship
// them (testonly/constants.go): the leaves, the roots of the trees of 1..8 of them, and proofs.
const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(
  (h) => Buffer.from(h, 'hex'),
);
const ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const INCLUSION: Array<[number, number, string[]]> = [
  [
    0,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    5,
    8,
    [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
];
const CONSISTENCY: Array<[number, number, string[]]> = [
  [1, 1, []],
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [
    2,
    5,
    [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
];

const hex = (bs: Buffer[]) => bs.map((b) => b.toString('hex'));
function treeOf(leaves: Buffer[]): MerkleTree {
  const t = new MerkleTree();
  for (const l of leaves) t.appendLeafHash(leafHash(l));
  return t;
}

// The naive reference: RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 written as the recursion reads.
function mth(d: Buffer[]): Buffer {
  if (d.length === 0) return createHash('sha256').digest();
  if (d.length === 1) return leafHash(d[0]!);
  const k = splitPoint(d.length);
  return nodeHash(mth(d.slice(0, k)), mth(d.slice(k)));
}
function path(m: number, d: Buffer[]): Buffer[] {
  if (d.length === 1) return [];
  const k = splitPoint(d.length);
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
}
function subproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const k = splitPoint(d.length);
  return m <= k
    ? [...subproof(m, d.slice(0, k), b), mth(d.slice(k))]
    : [...subproof(m - k, d.slice(k), false), mth(d.slice(0, k))];
}

describe('RFC 9162 hashing: known answers', () => {
  test('the empty tree', () => {
    expect(EMPTY_ROOT.toString('hex')).toBe(ROOTS[0]);
    expect(new MerkleTree().root().toString('hex')).toBe(ROOTS[0]);
  });
  test('roots of 1..8 leaves', () => {
    const t = treeOf(LEAVES);
    const c = new CompactRange();
    for (let n = 1; n <= 8; n++) {
      expect(t.root(n).toString('hex')).toBe(ROOTS[n]);
      c.append(leafHash(LEAVES[n - 1]!));
      expect(c.root().toString('hex')).toBe(ROOTS[n]);
    }
  });
  test.each(INCLUSION)('inclusion of leaf %i in %i', (index, size, proof) => {
    const t = treeOf(LEAVES);
    expect(hex(t.inclusionProof(index, size))).toEqual(proof);
    const root = Buffer.from(ROOTS[size]!, 'hex');
    const p = proof.map((h) => Buffer.from(h, 'hex'));
    expect(verifyInclusion(index, size, leafHash(LEAVES[index]!), p, root)).toBe(true);
    expect(verifyInclusion(index, size, leafHash(Buffer.from('x')), p, root)).toBe(false);
  });
  test.each(CONSISTENCY)('consistency %i → %i', (m, n, proof) => {
    const t = treeOf(LEAVES);
    expect(hex(t.consistencyProof(m, n))).toEqual(proof);
    const p = proof.map((h) => Buffer.from(h, 'hex'));
    const r1 = Buffer.from(ROOTS[m]!, 'hex');
    const r2 = Buffer.from(ROOTS[n]!, 'hex');
    expect(verifyConsistency(m, n, r1, r2, p)).toBe(true);
    if (m !== n) expect(verifyConsistency(m, n, Buffer.from(ROOTS[n]!, 'hex'), r2, p)).toBe(false);
  });
});

describe('RFC 9162 hashing: against the naive reference', () => {
  const leaves = fc.array(fc.uint8Array({ maxLength: 8 }), { minLength: 1, maxLength: 70 });
  test('roots, inclusion and consistency proofs of every size and index', () => {
    fc.assert(
      fc.property(leaves, fc.nat(), fc.nat(), (ls, a, b) => {
        const d = ls.map((l) => Buffer.from(l));
        const t = treeOf(d);
        const n = 1 + (a % d.length);
        const m = 1 + (b % n);
        const root = t.root(n);
        expect(root).toEqual(mth(d.slice(0, n)));
        const i = b % n;
        const inc = t.inclusionProof(i, n);
        expect(hex(inc)).toEqual(hex(path(i, d.slice(0, n))));
        expect(verifyInclusion(i, n, leafHash(d[i]!), inc, root)).toBe(true);
        const con = t.consistencyProof(m, n);
        expect(hex(con)).toEqual(hex(subproof(m, d.slice(0, n), true)));
        expect(verifyConsistency(m, n, t.root(m), root, con)).toBe(true);
        if (m < n) expect(verifyConsistency(m, n, leafHash(Buffer.from('forged')), root, con)).toBe(false);
        const c = new CompactRange();
        for (const l of d.slice(0, n)) c.append(leafHash(l));
        expect(c.root()).toEqual(root);
      }),
      { numRuns: 300 },
    );
  });
  test('a proof with one hash changed fails', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 64 }), fc.nat(), fc.nat(), (n, a, j) => {
        const d = Array.from({ length: n }, (_, k) => Buffer.from([k]));
        const t = treeOf(d);
        const i = a % n;
        const p = t.inclusionProof(i, n);
        const bad = p.map((h, k) => (k === j % p.length ? leafHash(h) : h));
        expect(verifyInclusion(i, n, leafHash(d[i]!), bad, t.root(n))).toBe(false);
      }),
    );
  });
});
