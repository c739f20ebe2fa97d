import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export const FIXTURE_DIR = join(__dirname, '..', '..', 'fixtures', 'qemu');

export interface ManifestCpu {
  instance: number;
  n: number;
  file: string;
  sha256: string;
  blockOffset: number;
}
export interface ManifestFixture {
  name: string;
  file: string;
  /** The QEMU that made it: a key of the manifest's `qemu` ("7.2" or "10.0"). */
  qemu: '7.2' | '10.0';
  binary: string;
  cpu: string;
  smp: number;
  /** idle: paused before the first guest instruction; ran: vCPU 0 ran a program first. */
  guest: 'idle' | 'ran';
  machine: string;
  pageSize: number;
  streamBytes: number;
  cpus: ManifestCpu[];
}

export function manifest(): { qemu: Record<'7.2' | '10.0', string>; fixtures: ManifestFixture[] } {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, 'manifest.json'), 'utf8'));
}

const cache = new Map<string, Buffer>();
/** The decompressed stream of a fixture (cached: tests only read it). */
export function stream(name: string): Buffer {
  let b = cache.get(name);
  if (!b) {
    b = gunzipSync(readFileSync(join(FIXTURE_DIR, `${name}.mig.gz`)));
    cache.set(name, b);
  }
  return b;
}

export function fixtureFile(file: string): Buffer {
  return readFileSync(join(FIXTURE_DIR, file));
}

/** Splits a buffer at the given sizes (cycled), as a socket might deliver it. */
export function chunked(b: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let k = 0;
  for (let i = 0; i < b.length;) {
    const n = Math.max(1, sizes[k++ % sizes.length]!);
    out.push(b.subarray(i, i + n));
    i += n;
  }
  return out;
}

export function concat(parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.length)));
}
