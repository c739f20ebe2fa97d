/**
 * Reads test/fixtures/qemu/<name>.mig.gz with the streaming reader (gunzip → push, chunk by chunk)
 * and writes each cpu section's cpreg block as <name>.cpu<instance>.v22.bin plus manifest.json.
 * Run by scripts/make-qemu-fixtures.sh:
 *   node extract-cpreg-blocks.js OUTDIR "QEMU 7.2 version" "QEMU 10.0 version" name:qemu:binary:cpu:smp:guest ...
 * (qemu: 7.2 or 10.0; guest: idle or ran).
 */
import { createHash } from 'node:crypto';
import { createReadStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { readStreamAsync } from '../domain/qemu-stream';

interface ManifestEntry {
  name: string;
  file: string;
  /** "7.2" or "10.0": the key of the QEMU in the manifest's `qemu`. */
  qemu: string;
  binary: string;
  cpu: string;
  smp: number;
  /** idle: paused before the first guest instruction; ran: vCPU 0 ran a program first. */
  guest: string;
  machine: string | null;
  pageSize: number;
  streamBytes: number;
  cpus: { instance: number; n: number; file: string; sha256: string; blockOffset: number }[];
}

async function main(): Promise<void> {
  const [outDir, qemu72, qemu10, ...specs] = process.argv.slice(2);
  if (!outDir || !qemu72 || !qemu10 || specs.length === 0)
    throw new Error('usage: OUTDIR QEMU72_VERSION QEMU10_VERSION name:qemu:binary:cpu:smp:guest ...');
  const fixtures: ManifestEntry[] = [];
  for (const spec of specs) {
    const [name, qemu, binary, cpu, smp, guest] = spec.split(':');
    if (!name || !qemu || !binary || !cpu || !smp || !guest) throw new Error(`bad spec ${spec}`);
    const file = `${name}.mig.gz`;
    const info = await readStreamAsync(createReadStream(join(outDir, file)).pipe(createGunzip()));
    const entry: ManifestEntry = {
      name,
      file,
      qemu,
      binary,
      cpu,
      smp: Number(smp),
      guest,
      machine: info.machine,
      pageSize: info.pageSize,
      streamBytes: info.totalBytes,
      cpus: [],
    };
    for (const c of info.cpus) {
      if (c.format !== 'v22') throw new Error(`${name}: cpu ${c.instance} is a version ${c.version} section`);
      const bin = `${name}.cpu${c.instance}.v22.bin`;
      writeFileSync(join(outDir, bin), c.block);
      const sha256 = createHash('sha256').update(c.block).digest('hex');
      entry.cpus.push({ instance: c.instance, n: c.n, file: bin, sha256, blockOffset: c.blockOffset });
    }
    fixtures.push(entry);
    process.stderr.write(
      `${name}: ${info.totalBytes} bytes, cpus ${entry.cpus.map((c) => `${c.instance}(N=${c.n})`).join(' ')}\n`,
    );
  }
  const manifest = { generator: 'scripts/make-qemu-fixtures.sh', qemu: { '7.2': qemu72, '10.0': qemu10 }, fixtures };
  writeFileSync(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
