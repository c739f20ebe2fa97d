import { hash } from 'node:crypto';
import type { MessageDigest } from '../domain/vcpu';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The decider's report digest (domain/vcpu/report-digest.ts) through node:crypto: the same
 * SHA-256 as the domain's own, several times faster on a 300-value report. The message's words
 * are swapped in place to their big-endian bytes (the message is the digest's to overwrite).
 */
export const nativeDigest: MessageDigest = (message, n) => {
  const bytes = Buffer.from(message.buffer, message.byteOffset, 4 * n);
  if (LITTLE_ENDIAN) bytes.swap32();
  return hash('sha256', bytes, 'hex'); // one call: no Hash object per report
};
