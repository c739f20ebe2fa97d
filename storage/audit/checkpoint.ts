/**
 * Signed checkpoints (docs/audit.md): Ed25519 through node:crypto over a fixed text,
 *
 *     cpreg-ledger checkpoint v1\n<treeSize>\n<rootHash hex>\n<chainHead hex>\n<time ISO-8601>\n<keyId>\n
 *
 * where rootHash is the RFC 9162 root of the first treeSize events, chainHead the chain hash of
 * event treeSize (64 zeros for 0), keyId the first 16 bytes (hex) of SHA-256 of the public key's
 * SubjectPublicKeyInfo DER. The signature is base64.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';

export interface CheckpointBody {
  treeSize: number;
  rootHash: string;
  chainHead: string;
  time: string;
  keyId: string;
}

export interface Checkpoint extends CheckpointBody {
  signature: string;
}

export interface PublishedKey {
  keyId: string;
  algorithm: 'Ed25519';
  /** SPKI PEM. */
  publicKey: string;
}

/** The stream that holds checkpoints and the keys that signed them (kind 'audit'). */
export const AUDIT_STREAM = '$audit';
export const AUDIT_KIND = 'audit';
export const KEY_EVENT = 'SigningKeyPublished';
export const CHECKPOINT_EVENT = 'CheckpointSigned';

export function checkpointText(c: CheckpointBody): string {
  return `cpreg-ledger checkpoint v1\n${c.treeSize}\n${c.rootHash}\n${c.chainHead}\n${c.time}\n${c.keyId}\n`;
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest()
    .subarray(0, 16)
    .toString('hex');
}

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyId: string;
  published: PublishedKey;
}

export function signingKeyFromPem(pem: string | Buffer): SigningKey {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('the signing key must be an Ed25519 private key');
  const publicKey = createPublicKey(privateKey);
  const keyId = keyIdOf(publicKey);
  return {
    privateKey,
    publicKey,
    keyId,
    published: {
      keyId,
      algorithm: 'Ed25519',
      publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    },
  };
}

export function publicKeyFromPem(pem: string | Buffer): KeyObject {
  const k = createPublicKey(pem);
  if (k.asymmetricKeyType !== 'ed25519') throw new Error('the public key must be an Ed25519 key');
  return k;
}

/** A new key pair, PEM (PKCS#8 private, SPKI public). */
export function generateSigningKey(): { privatePem: string; publicPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

export function signCheckpoint(body: Omit<CheckpointBody, 'keyId'>, key: SigningKey): Checkpoint {
  const full: CheckpointBody = { ...body, keyId: key.keyId };
  const signature = sign(null, Buffer.from(checkpointText(full), 'utf8'), key.privateKey).toString('base64');
  return { ...full, signature };
}

/** The signature holds under `publicKey`, whose key id is the checkpoint's. */
export function checkpointSignatureValid(c: Checkpoint, publicKey: KeyObject): boolean {
  if (keyIdOf(publicKey) !== c.keyId) return false;
  try {
    return verify(null, Buffer.from(checkpointText(c), 'utf8'), publicKey, Buffer.from(c.signature, 'base64'));
  } catch {
    return false;
  }
}

/** A checkpoint read from JSON (a file, an event): refuses anything not shaped like one. */
export function parseCheckpoint(x: unknown): Checkpoint {
  const c = x as Partial<Checkpoint> | null;
  if (
    !c ||
    typeof c !== 'object' ||
    !Number.isSafeInteger(c.treeSize) ||
    (c.treeSize as number) < 0 ||
    typeof c.rootHash !== 'string' ||
    !/^[0-9a-f]{64}$/.test(c.rootHash) ||
    typeof c.chainHead !== 'string' ||
    !/^[0-9a-f]{64}$/.test(c.chainHead) ||
    typeof c.time !== 'string' ||
    typeof c.keyId !== 'string' ||
    typeof c.signature !== 'string'
  )
    throw new Error('not a checkpoint: expected {treeSize, rootHash, chainHead, time, keyId, signature}');
  return {
    treeSize: c.treeSize as number,
    rootHash: c.rootHash,
    chainHead: c.chainHead,
    time: c.time,
    keyId: c.keyId,
    signature: c.signature,
  };
}
