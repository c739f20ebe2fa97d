import type { CpregArrays } from '../cpreg-arrays';
import { decodeV22, encodeV22 } from './v22';
import { decodeV23, encodeV23 } from './v23';

export const BLOB_FORMATS = ['v22', 'v23'] as const;
export type BlobFormat = (typeof BLOB_FORMATS)[number];

export function isBlobFormat(x: unknown): x is BlobFormat {
  return x === 'v22' || x === 'v23';
}

export function decodeBlob(format: BlobFormat, blob: Uint8Array): CpregArrays {
  return format === 'v22' ? decodeV22(blob) : decodeV23(blob);
}

export function encodeBlob(format: BlobFormat, arrays: CpregArrays): Uint8Array {
  return format === 'v22' ? encodeV22(arrays) : encodeV23(arrays);
}

/** Re-encodes a blob in the other format; v23→v22 only when no register is wider than 8 bytes. */
export function convertBlob(from: BlobFormat, to: BlobFormat, blob: Uint8Array): Uint8Array {
  return encodeBlob(to, decodeBlob(from, blob));
}
