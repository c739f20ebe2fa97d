/**
 * Reads test/fixtures/qemu/<name>.mig.gz with the streaming reader (gunzip → push, chunk by chunk)
 * and writes each cpu section's cpreg block as <name>.cpu<instance>.v22.bin plus manifest.json.
 * Run by scripts/make-qemu-fixtures.sh:
 *   node extract-cpreg-blocks.js OUTDIR "QEMU version" name:binary:cpu:smp ...
 */
import { createHash } from 'node:crypto';
import { createReadStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { readStreamAsync } from '../domain/qemu-stream';

interface ManifestEntry {
  name: string;
  file: string;
  binary: string;
  cpu: string;
  smp: number;
  machine: string | null;
  pageSize: number;
  streamBytes: number;
  cpus: { instance: number; n: number; file: string; sha256: string; blockOffset: number }[];
}

async function main(): Promise<void> {
  const [outDir, qemuVersion, ...specs] = process.argv.slice(2);
  if (!outDir || !qemuVersion || specs.length === 0)
    throw new Error('usage: OUTDIR QEMU_VERSION name:binary:cpu:smp ...');
  const fixtures: ManifestEntry[] = [];
  for (const spec of specs) {
    const [name, binary, cpu, smp] = spec.split(':');
    if (!name || !binary || !cpu || !smp) throw new Error(`bad spec ${spec}`);
    const file = `${name}.mig.gz`;
    const info = await readStreamAsync(createReadStream(join(outDir, file)).pipe(createGunzip()));
    const entry: ManifestEntry = {
      name,
      file,
      binary,
      cpu,
      smp: Number(smp),
      machine: info.machine,
      pageSize: info.pageSize,
      streamBytes: info.totalBytes,
      cpus: [],
    };
    for (const c of info.cpus) {
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
  const manifest = { generator: 'scripts/make-qemu-fixtures.sh', qemu: qemuVersion, fixtures };
  writeFileSync(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
