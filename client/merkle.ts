/**
 * Checking an RFC 9162 inclusion proof where it is read (`GET /v1/audit/proofs/inclusion`): the
 * root is recomputed from the event's leaf hash and the proof's sibling hashes with SHA-256
 * (interior node = SHA-256(0x01 || left || right), §2.1.3.2), with WebCrypto, so the same code runs
 * in Node 20 and in a browser (a secure context: https, or http://127.0.0.1 / localhost). Compare
 * the result with the root of a signed checkpoint of the same tree size and the event is proven
 * to be in the log that checkpoint signed, whatever the service says afterwards.
 */

export interface InclusionProof {
  leafIndex: number;
  treeSize: number;
  leafHash: string;
  rootHash: string;
  proof: string[];
}

function bytesOf(hex: string): Uint8Array {
  if (!/^(?:[0-9a-f]{2})*$/i.test(hex)) throw new TypeError(`not hex: ${hex.slice(0, 20)}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function hexOf(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

async function node(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  const buf = new Uint8Array(1 + left.length + right.length);
  buf[0] = 1;
  buf.set(left, 1);
  buf.set(right, 1 + left.length);
  return new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', buf));
}

/** Whether this runtime can check proofs (WebCrypto is only given to secure contexts). */
export function canCheckProofs(): boolean {
  return typeof globalThis.crypto?.subtle?.digest === 'function';
}

/** The root the proof leads to (hex), or undefined when it cannot be a proof of that leaf in that tree. */
export async function inclusionRoot(p: Omit<InclusionProof, 'rootHash'>): Promise<string | undefined> {
  if (!Number.isSafeInteger(p.leafIndex) || p.leafIndex < 0 || p.leafIndex >= p.treeSize) return undefined;
  let fn = p.leafIndex;
  let sn = p.treeSize - 1;
  let r = bytesOf(p.leafHash);
  for (const sibling of p.proof) {
    if (sn === 0) return undefined;
    const s = bytesOf(sibling);
    if (fn % 2 === 1 || fn === sn) {
      r = await node(s, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else r = await node(r, s);
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? hexOf(r) : undefined;
}

/** True when the proof's leaf hash and siblings lead to its root. */
export async function checkInclusion(p: InclusionProof): Promise<boolean> {
  return (await inclusionRoot(p)) === p.rootHash.toLowerCase();
}
