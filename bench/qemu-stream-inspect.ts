/**
 * `cpreg inspect` of a multi-GB QEMU migration stream against `cat FILE > /dev/null`, end to end
 * (Node's start-up included), interleaved round by round (≥ 3 rounds), min / median / max.
 * Targets: `cpreg inspect --json FILE` ≥ 0.6 of cat; peak RSS of the inspecting process < 150 MB.
 *
 * The stream: $CPREG_BIG_STREAM when set (kept); else one made by real QEMU 7.2 with
 * bench/make-qemu-stream.sh (`-M virt -cpu max -smp 2`, 2,000 MiB of guest RAM filled with random
 * bytes, migrated to a file) in a temp dir, deleted at the end; without QEMU, the fixture
 * aarch64-max-smp2 with its RAM block grown by RAM_GIB GiB of PAGE records (said so in the results).
 *
 * Each round, one after the other: cat; the whole `cpreg inspect --json` (the headline) and
 * `cpreg inspect` (text); a child that only runs the read+parse loop (this file with --child,
 * exactly cli/inspect-file.ts inspectFile: one reused buffer, fs.readSync, StreamReader.push) and
 * reports its loop time and maxRSS; `node -e 0` (the start-up floor). The page cache is warmed first.
 *
 * Run: npm run bench:build && node build/bench/qemu-stream-inspect.js   (BENCH_ROUNDS, RAM_GIB)
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { inspectFile } from '../cli/inspect-file';
import { readStream } from '../domain/qemu-stream';
import { appendResults } from './lib/machine';
import { fmt, median, spread } from './lib/stats';

const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 3));
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
const ROOT = findRoot(__dirname);

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

/** Without QEMU: the fixture's stream with its guest RAM block grown by `extraRam` bytes of PAGE records. */
function buildSynthetic(file: string, extraRam: number): void {
  const fixture = gunzipSync(fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'qemu', 'aarch64-max-smp2.mig.gz')));
  const info = readStream([fixture]);
  const start = info.sections[0]!;
  if (start.idstr !== 'ram' || start.kind !== 'start')
    throw new Error('fixture: the first section is not the ram START');
  const oldRam = info.ramBlocks.find((b) => b.name === BLOCK)!.length;
  const headerLen = 1 + 4 + 1 + start.idstr.length + 4 + 4;
  const startLen = headerLen + 8 + info.ramBlocks.reduce((n, b) => n + 1 + b.name.length + 8, 0) + 8 + 5;
  const footer = Buffer.concat([Buffer.from([0x7e]), be32(start.sectionId)]);
  const fd = fs.openSync(file, 'w');
  const put = (b: Uint8Array) => {
    for (let off = 0; off < b.length;) off += fs.writeSync(fd, b, off, b.length - off);
  };
  try {
    put(fixture.subarray(0, start.offset));
    const blocks = info.ramBlocks.map((b) => ({
      name: b.name,
      length: b.name === BLOCK ? b.length + extraRam : b.length,
    }));
    put(
      Buffer.concat([
        fixture.subarray(start.offset, start.offset + headerLen),
        be64(blocks.reduce((n, b) => n + b.length, 0) + RAM_FLAG.MEM_SIZE),
        ...blocks.map((b) => Buffer.concat([str8(b.name), be64(b.length)])),
        be64(RAM_FLAG.EOS),
        footer,
      ]),
    );
    const name = str8(BLOCK);
    const chunk = Buffer.alloc(5 + name.length + PAGES_PER_PART * (8 + PAGE) + 8 + 5, 0x5a);
    for (let p = 0; p < extraRam / PAGE; p += PAGES_PER_PART) {
      const n = Math.min(PAGES_PER_PART, extraRam / PAGE - p);
      let o = 0;
      chunk[o++] = 0x02;
      o = chunk.writeUInt32BE(start.sectionId, o);
      for (let i = 0; i < n; i++) {
        const addr = oldRam + (p + i) * PAGE;
        chunk.writeBigUInt64BE(BigInt(addr + RAM_FLAG.PAGE + (i ? RAM_FLAG.CONTINUE : 0)), o);
        o += 8;
        if (i === 0) o += name.copy(chunk, o);
        chunk.writeBigUInt64BE(BigInt(addr) | 1n, o); // a non-zero page
        o += PAGE;
      }
      chunk.writeBigUInt64BE(BigInt(RAM_FLAG.EOS), o);
      o += 8;
      o += footer.copy(chunk, o);
      put(chunk.subarray(0, o));
    }
    put(fixture.subarray(start.offset + startLen));
  } finally {
    fs.closeSync(fd);
  }
}

/** Child mode: the CLI's read+parse loop alone; its time and peak RSS as JSON. */
function child(file: string): void {
  const t0 = process.hrtime.bigint();
  const info = inspectFile(file);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(
    JSON.stringify({
      secs,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      totalBytes: info.totalBytes,
      ramPages: info.ramPages,
      cpus: info.cpus.map((c) => c.n),
    }) + '\n',
  );
}

function timed(cmd: string, args: string[]): number {
  const s = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - s) / 1e9;
}

function main(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-bench-stream-'));
  let file = process.env.CPREG_BIG_STREAM ?? '';
  let origin: string;
  try {
    if (file) origin = `${file} (CPREG_BIG_STREAM)`;
    else {
      file = path.join(dir, 'big.mig');
      const t = Date.now();
      const made = spawnSync('bash', [path.join(ROOT, 'bench', 'make-qemu-stream.sh'), file, '2000'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      if (made.status === 0) {
        origin = `made by real QEMU 7.2 (bench/make-qemu-stream.sh: -M virt -cpu max -smp 2 -S, 2,000 MiB of random guest RAM, migrate to a file) in ${((Date.now() - t) / 1000).toFixed(1)} s`;
      } else {
        const gib = Number(process.env.RAM_GIB ?? 2);
        buildSynthetic(file, gib * 1024 ** 3);
        origin = `SYNTHETIC (no QEMU: ${made.stderr.toString().trim().slice(0, 100)}): the fixture aarch64-max-smp2 with mach-virt.ram grown by ${gib} GiB of PAGE records`;
      }
    }
    const bytes = fs.statSync(file).size;
    const cli = path.join(__dirname, '..', 'cli', 'cpreg.js');
    const cat = () => timed('sh', ['-c', 'cat "$1" > /dev/null', 'sh', file]);
    const loop = () => {
      const s = process.hrtime.bigint();
      const r = spawnSync(process.execPath, [__filename, '--child', file], { encoding: 'utf8', maxBuffer: 1 << 20 });
      if (r.status !== 0) throw new Error(`inspection failed: ${r.stderr}`);
      const out = JSON.parse(r.stdout) as { secs: number; maxRssBytes: number; totalBytes: number; cpus: number[] };
      return { ...out, wall: Number(process.hrtime.bigint() - s) / 1e9 };
    };

    cat(); // the file into the page cache
    const r = {
      cat: [] as number[],
      json: [] as number[],
      text: [] as number[],
      loop: [] as number[],
      node: [] as number[],
    };
    const rss: number[] = [];
    let first: ReturnType<typeof loop> | undefined;
    for (let k = 0; k < ROUNDS; k++) {
      r.cat.push(cat());
      r.json.push(timed(process.execPath, [cli, 'inspect', '--json', file]));
      r.text.push(timed(process.execPath, [cli, 'inspect', file]));
      const l = loop();
      first ??= l;
      r.loop.push(l.secs);
      rss.push(l.maxRssBytes / 1e6);
      r.node.push(timed(process.execPath, ['-e', '0']));
    }
    if (first!.totalBytes !== bytes || !first!.cpus.length)
      throw new Error(`the stream did not parse whole: ${JSON.stringify(first)}`);
    const mbs = (xs: number[]) => xs.map((x) => bytes / 1e6 / x);
    const ratio = (xs: number[]) => xs.map((x, k) => r.cat[k]! / x);
    const lines = [
      `stream: ${fmt(bytes)} bytes, ${origin}; ${first!.cpus.length} cpus × ${first!.cpus[0]} registers; page cache warm; ${ROUNDS} rounds, each command in turn`,
      `cat FILE > /dev/null: ${spread(r.cat, 3, ' s')} = ${spread(mbs(r.cat), 0, ' MB/s')}`,
      `\`cpreg inspect --json FILE\` end to end (Node start-up, read and parse, JSON of every register) / cat: ${spread(ratio(r.json))} — target ≥ 0.6: ${median(ratio(r.json)) >= 0.6 ? 'met' : 'NOT met'}; ${spread(r.json, 3, ' s')}`,
      `\`cpreg inspect FILE\` (text) / cat: ${spread(ratio(r.text))}; ${spread(r.text, 3, ' s')}`,
      `the read+parse loop alone (256 KiB reads into one buffer + StreamReader, in a child) / cat: ${spread(ratio(r.loop))}; ${spread(r.loop, 3, ' s')}`,
      `Node start-up alone (node -e 0): ${spread(r.node, 3, ' s')}`,
      `peak RSS of the inspecting process (maxRSS): ${spread(rss, 1, ' MB')} (target < 150 MB — ${Math.max(...rss) < 150 ? 'met' : 'NOT met'})`,
    ];
    lines.forEach((l) => console.log(l));
    appendResults('QEMU stream inspection (bench/qemu-stream-inspect.ts)', lines);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') child(process.argv[3]!);
else main();
