/**
 * `cpreg inspect` of a multi-GB QEMU migration stream against `cat FILE > /dev/null`, same run.
 * Targets: inspection throughput ≥ 0.5 × cat's; peak RSS of the inspecting process < 150 MB.
 *
 * The stream (≥ 2 GB, in a temp dir, deleted at the end) is the real QEMU 7.2 aarch64-max-smp2
 * fixture with its guest RAM block `mach-virt.ram` grown by RAM_GIB GiB: the configuration
 * section, the `ram` START section (MEM_SIZE + the real block list, the one length changed), then
 * PART sections of PAGE records (non-zero 4 KiB pages, each stamped with its address) filling
 * the new RAM, then the fixture's own RAM sections and its device state + vmdesc unchanged. It
 * is written chunk by chunk and must parse with the real reader (checked: pages, cpus, blocks).
 *
 * Inspection runs in a child process (this file with --child), exactly as the CLI reads: one
 * reused 128 KiB buffer, fs.readSync, StreamReader.push (cli/cpreg.ts inspectFile); it reports
 * its read+parse time and process.resourceUsage().maxRSS. cat and inspection alternate, 3 rounds
 * after a warm-up that puts the file in the page cache; medians are reported. The whole `cpreg
 * inspect --json` command is timed too (wall clock including Node's start-up).
 *
 * Run: npm run bench:build && node build/bench/qemu-stream-inspect.js   (RAM_GIB=2 by default)
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { inspectFile } from '../cli/cpreg';
import { readStream } from '../domain/qemu-stream';
import { appendResults } from './lib/machine';

const PAGE = 4096;
const RAM_FLAG = { ZERO: 0x02, MEM_SIZE: 0x04, PAGE: 0x08, EOS: 0x10, CONTINUE: 0x20 };
const BLOCK = 'mach-virt.ram';
const PAGES_PER_PART = 8192; // 32 MiB per PART section

function findRoot(dir: string): string {
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'test', 'fixtures', 'qemu')))
      return d;
  }
  throw new Error('cannot find the repository root (test/fixtures/qemu)');
}

const be32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
};
const be64 = (v: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
};
const str8 = (s: string) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'latin1')]);

/** Writes the big stream; returns its size and what a reader must find in it. */
function buildStream(file: string, extraRam: number): { bytes: number; pages: number } {
  const fixture = gunzipSync(
    fs.readFileSync(path.join(findRoot(__dirname), 'test', 'fixtures', 'qemu', 'aarch64-max-smp2.mig.gz')),
  );
  const info = readStream([fixture]);
  const start = info.sections[0]!;
  if (start.idstr !== 'ram' || start.kind !== 'start')
    throw new Error('fixture: the first section is not the ram START');
  const firstDevice = info.sections.find((s) => s.kind === 'full')!.offset;
  const ramBlock = info.ramBlocks.find((b) => b.name === BLOCK)!;
  const oldRam = ramBlock.length;
  // The fixture's START section: header, MEM_SIZE, block list, EOS, footer.
  const headerLen = 1 + 4 + 1 + start.idstr.length + 4 + 4;
  const startLen = headerLen + 8 + info.ramBlocks.reduce((n, b) => n + 1 + b.name.length + 8, 0) + 8 + 5;
  if (fixture[start.offset + startLen] !== 0x02)
    throw new Error('fixture: the ram START section is not followed by a PART section');
  const sectionId = start.sectionId;
  const footer = Buffer.concat([Buffer.from([0x7e]), be32(sectionId)]);

  const fd = fs.openSync(file, 'w');
  let bytes = 0;
  const put = (b: Uint8Array) => {
    let off = 0;
    while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
    bytes += b.length;
  };
  try {
    put(fixture.subarray(0, start.offset)); // magic, version, configuration section
    const blocks = info.ramBlocks.map((b) => ({
      name: b.name,
      length: b.name === BLOCK ? b.length + extraRam : b.length,
    }));
    const total = blocks.reduce((n, b) => n + b.length, 0);
    put(
      Buffer.concat([
        fixture.subarray(start.offset, start.offset + headerLen),
        be64(total + RAM_FLAG.MEM_SIZE) /* flags live in the low bits: + not | (JS | is 32-bit) */,
        ...blocks.map((b) => Buffer.concat([str8(b.name), be64(b.length)])),
        be64(RAM_FLAG.EOS),
        footer,
      ]),
    );
    // The new RAM: PART sections of PAGE records, written from one reused chunk buffer.
    const pages = extraRam / PAGE;
    const rec = 8 + PAGE;
    const name = str8(BLOCK);
    const chunk = Buffer.alloc(5 + name.length + PAGES_PER_PART * rec + 8 + 5);
    for (let p = 0; p < pages; p += PAGES_PER_PART) {
      const n = Math.min(PAGES_PER_PART, pages - p);
      let o = 0;
      chunk[o++] = 0x02;
      chunk.writeUInt32BE(sectionId, o);
      o += 4;
      for (let i = 0; i < n; i++) {
        const addr = oldRam + (p + i) * PAGE;
        chunk.writeBigUInt64BE(BigInt(addr + RAM_FLAG.PAGE + (i ? RAM_FLAG.CONTINUE : 0)), o);
        o += 8;
        if (i === 0) o += name.copy(chunk, o);
        // a non-zero page: its address, then a pattern
        chunk.writeBigUInt64BE(BigInt(addr) | 1n, o);
        if (p === 0 && i < 2) for (let k = 8; k < PAGE; k++) chunk[o + k] = (k * 131 + 7) & 0xff;
        else chunk.copy(chunk, o + 8, 5 + name.length + 8 + 8, 5 + name.length + 8 + PAGE); // same pattern as the first page
        o += PAGE;
      }
      chunk.writeBigUInt64BE(BigInt(RAM_FLAG.EOS), o);
      o += 8;
      o += footer.copy(chunk, o);
      put(chunk.subarray(0, o));
    }
    // The fixture's own RAM sections, then its device state and vmdesc.
    put(fixture.subarray(start.offset + startLen, firstDevice));
    put(fixture.subarray(firstDevice));
    return { bytes, pages: info.ramPages + pages };
  } finally {
    fs.closeSync(fd);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Child mode: inspect like the CLI, print timing and peak RSS as JSON. */
function child(file: string): void {
  const t0 = process.hrtime.bigint();
  const info = inspectFile(file);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const maxRssBytes = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(
    JSON.stringify({
      secs,
      maxRssBytes,
      totalBytes: info.totalBytes,
      ramPages: info.ramPages,
      cpus: info.cpus.map((c) => c.n),
      blocks: info.ramBlocks.length,
    }) + '\n',
  );
}

function main(): void {
  const extraGib = Number(process.env.RAM_GIB ?? 2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-bench-stream-'));
  const file = path.join(dir, 'big.mig');
  try {
    const t = Date.now();
    const built = buildStream(file, extraGib * 1024 ** 3);
    console.log(
      `built ${file}: ${built.bytes.toLocaleString('en-US')} bytes in ${((Date.now() - t) / 1000).toFixed(1)} s`,
    );

    const cat = (): number => {
      const s = process.hrtime.bigint();
      const r = spawnSync('sh', ['-c', 'cat "$1" > /dev/null', 'sh', file], { stdio: 'inherit' });
      if (r.status !== 0) throw new Error('cat failed');
      return Number(process.hrtime.bigint() - s) / 1e9;
    };
    const inspect = () => {
      const s = process.hrtime.bigint();
      const r = spawnSync(process.execPath, [__filename, '--child', file], { encoding: 'utf8', maxBuffer: 1 << 20 });
      const wall = Number(process.hrtime.bigint() - s) / 1e9;
      if (r.status !== 0) throw new Error(`inspection failed: ${r.stderr}`);
      return {
        ...(JSON.parse(r.stdout) as {
          secs: number;
          maxRssBytes: number;
          totalBytes: number;
          ramPages: number;
          cpus: number[];
          blocks: number;
        }),
        wall,
      };
    };
    const cli = (): number => {
      const s = process.hrtime.bigint();
      const r = spawnSync(
        process.execPath,
        [path.join(__dirname, '..', 'cli', 'cpreg.js'), 'inspect', '--json', file],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      if (r.status !== 0) throw new Error(`cpreg inspect failed: ${r.stderr}`);
      return Number(process.hrtime.bigint() - s) / 1e9;
    };

    cat(); // warm-up: the file into the page cache
    const cats: number[] = [];
    const runs: ReturnType<typeof inspect>[] = [];
    const clis: number[] = [];
    for (let round = 0; round < 3; round++) {
      cats.push(cat());
      runs.push(inspect());
      clis.push(cli());
    }
    const first = runs[0]!;
    if (first.totalBytes !== built.bytes || first.ramPages !== built.pages || first.cpus.join() !== '304,304') {
      throw new Error(`the stream did not parse as built: ${JSON.stringify(first)} vs ${JSON.stringify(built)}`);
    }
    const mb = built.bytes / 1e6;
    const catS = median(cats);
    const inS = median(runs.map((r) => r.secs));
    const wallS = median(runs.map((r) => r.wall));
    const cliS = median(clis);
    const rss = Math.max(...runs.map((r) => r.maxRssBytes)) / 1e6;
    const ratio = catS / inS;
    const lines = [
      `stream: ${built.bytes.toLocaleString('en-US')} bytes (fixture aarch64-max-smp2 with mach-virt.ram grown by ${extraGib} GiB of PAGE records; ${built.pages.toLocaleString('en-US')} RAM pages, 2 cpus × 304 registers), page cache warm; medians of 3 alternating rounds`,
      `cat FILE > /dev/null: ${(mb / catS).toFixed(0)} MB/s (${catS.toFixed(3)} s; rounds ${cats.map((x) => x.toFixed(3)).join(', ')} s)`,
      `inspection (readSync into one 128 KiB buffer + StreamReader, as cpreg inspect): ${(mb / inS).toFixed(0)} MB/s (${inS.toFixed(3)} s; rounds ${runs.map((r) => r.secs.toFixed(3)).join(', ')} s)`,
      `ratio inspection / cat: ${ratio.toFixed(2)} (target ≥ 0.5 — ${ratio >= 0.5 ? 'met' : 'NOT met'}); whole child process incl. Node start-up ${(mb / wallS).toFixed(0)} MB/s (ratio ${(catS / wallS).toFixed(2)})`,
      `\`cpreg inspect --json FILE\` end to end (node start-up, read, JSON of 608 registers): ${cliS.toFixed(3)} s = ${(mb / cliS).toFixed(0)} MB/s (ratio ${(catS / cliS).toFixed(2)})`,
      `peak RSS of the inspecting process (maxRSS): ${rss.toFixed(1)} MB (target < 150 MB — ${rss < 150 ? 'met' : 'NOT met'})`,
    ];
    lines.forEach((l) => console.log(l));
    appendResults('QEMU stream inspection (bench/qemu-stream-inspect.ts)', lines);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') child(process.argv[3]!);
else main();
