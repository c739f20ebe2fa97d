/**
 * Records the TCG cpreg lists (ids only) of real QEMU for the name measurement: every `-cpu`
 * model of qemu-system-aarch64 and qemu-system-arm of each QEMU version, under `-M virt` with
 * each machine option set below where the model runs on virt, else on the empty machine
 * (`-M none`), plus a few boards whose board code adds registers (PXA) or older CPUs. Writes
 * test/fixtures/names/tcg-lists.json, which test/domain/names.test.ts reads.
 * Run by scripts/measure-names.sh (compiles this file, ts-node is not installed):
 *   node measure-names.js OUT.json
 * Environment: QEMU72_PREFIX (default: the binaries on PATH), QEMU10_DIR (default
 * /opt/qemu-10.0, an unpacked Debian qemu-system-arm/-common/-data 10.0 package set).
 * At most 2 QEMUs run at once. See docs/names.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readStream } from '../domain/qemu-stream';

interface Qemu {
  /** Short version label used in list keys ("7.2", "10.0"). */
  label: string;
  /** Path of a binary. */
  bin(binary: string): string;
  /** Extra arguments (firmware path). */
  args: string[];
  /** Extra arguments for the boards (an audio backend where the version needs one). */
  boardArgs: string[];
}

interface Run {
  qemu: Qemu;
  binary: string;
  machine: string;
  cpu: string;
  /** -m, in MiB (default 64; some boards have a fixed size). */
  mem?: string;
  /** The board refuses to start without a kernel: give it 4 KiB of zeros (it never runs: -S). */
  kernel?: boolean;
}

const BINARIES = ['qemu-system-aarch64', 'qemu-system-arm'];
/** -M virt option sets: plain, each of secure / virtualization, both (where the model has them). */
const VIRT_MACHINES = ['virt', 'virt,secure=on', 'virt,virtualization=on', 'virt,virtualization=on,secure=on'];
/** Extra lists: MTE's registers appear only with mte=on (aarch64 max). */
const EXTRA_VIRT: { binary: string; machine: string; cpu: string }[] = [
  { binary: 'qemu-system-aarch64', machine: 'virt,mte=on', cpu: 'max' },
  { binary: 'qemu-system-aarch64', machine: 'virt,mte=on,virtualization=on,secure=on', cpu: 'max' },
];
/**
 * Boards: the PXA boards add XScale registers of their own (hw/arm/pxa2xx*.c, QEMU 7.2), and the
 * others check that a board's CPU has the list `-M none` gives. A board missing from a QEMU
 * version (the PXA boards left QEMU in 9.2) is skipped.
 */
const BOARDS: { binary: string; machine: string; cpu: string; mem?: string; kernel?: boolean }[] = [
  { binary: 'qemu-system-arm', machine: 'versatilepb', cpu: 'arm926' },
  { binary: 'qemu-system-arm', machine: 'integratorcp', cpu: 'arm1026' },
  { binary: 'qemu-system-arm', machine: 'integratorcp', cpu: 'arm946' },
  { binary: 'qemu-system-arm', machine: 'kzm', cpu: 'arm1136' },
  { binary: 'qemu-system-arm', machine: 'realview-eb-mpcore', cpu: 'arm11mpcore' },
  { binary: 'qemu-system-arm', machine: 'raspi1ap', cpu: 'arm1176', mem: '512' },
  { binary: 'qemu-system-arm', machine: 'sx1', cpu: 'ti925t', mem: '32', kernel: true },
  { binary: 'qemu-system-arm', machine: 'collie', cpu: 'sa1110', mem: '512', kernel: true },
  { binary: 'qemu-system-arm', machine: 'tosa', cpu: 'pxa255' },
  { binary: 'qemu-system-arm', machine: 'akita', cpu: 'pxa270-c0' },
  { binary: 'qemu-system-arm', machine: 'cubieboard', cpu: 'cortex-a8', mem: '512' },
  { binary: 'qemu-system-arm', machine: 'vexpress-a9', cpu: 'cortex-a9' },
  { binary: 'qemu-system-arm', machine: 'mps3-an536', cpu: 'cortex-r52' },
];

const TIMEOUT_MS = Number(process.env.QEMU_TIMEOUT ?? 60) * 1000;

function qemus(): Qemu[] {
  const prefix = process.env.QEMU72_PREFIX ?? '';
  const dir = process.env.QEMU10_DIR ?? '/opt/qemu-10.0';
  return [
    { label: '7.2', bin: (b) => (prefix ? join(prefix, b) : b), args: [], boardArgs: [] },
    {
      label: '10.0',
      bin: (b) => join(dir, 'usr/bin', b),
      args: ['-L', join(dir, 'usr/share/qemu')],
      // 10.0 refuses to start a board with sound hardware when no audio backend is available.
      boardArgs: ['-audio', 'none'],
    },
  ];
}

function key(r: Run): string {
  return `${r.qemu.label} ${r.binary} -M ${r.machine} -cpu ${r.cpu}`;
}

function version(q: Qemu): string {
  const out = spawnSync(q.bin('qemu-system-aarch64'), [...q.args, '--version'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`${q.bin('qemu-system-aarch64')}: ${out.stderr || out.error}`);
  return (out.stdout.split('\n')[0] ?? '').trim();
}

function lines(q: Qemu, binary: string, args: string[]): string[] {
  const out = spawnSync(q.bin(binary), [...q.args, ...args], { encoding: 'utf8' });
  return out.stdout.split('\n');
}

/** `-M virt -cpu help`: the models, without " (deprecated)". */
function cpuModels(q: Qemu, binary: string): string[] {
  return lines(q, binary, ['-M', 'virt', '-cpu', 'help'])
    .slice(1)
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((m) => m !== '');
}

function machines(q: Qemu, binary: string): Set<string> {
  return new Set(lines(q, binary, ['-M', 'help']).map((l) => l.split(/\s+/)[0] ?? ''));
}

type Outcome = { ok: true; ids: string[] } | { ok: false; error: string };

/** Starts a paused VM, migrates it to a file, quits; reads vCPU 0's cpreg ids with our reader. */
function measure(r: Run, work: string): Promise<Outcome> {
  const file = join(work, `${key(r).replace(/[^A-Za-z0-9.]+/g, '_')}.mig`);
  const args = [
    ...r.qemu.args,
    ...(r.machine.startsWith('virt') ? [] : r.qemu.boardArgs),
    ...(r.kernel ? ['-kernel', join(work, 'zero.bin')] : []),
    ...['-M', r.machine, '-cpu', r.cpu, ...(r.machine === 'none' ? [] : ['-m', r.mem ?? '64'])],
    ...['-display', 'none', '-S', '-monitor', 'stdio', '-nodefaults'],
  ];
  return new Promise((resolve) => {
    const child = spawn(r.qemu.bin(r.binary), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let asked = false;
    let quitting = false;
    const poll = setInterval(() => {
      if (asked && !quitting && existsSync(file)) {
        quitting = true;
        child.stdin.write('quit\n');
      }
    }, 50);
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    const onData = (d: Buffer): void => {
      output += d.toString();
      if (!asked && output.includes('(qemu)')) {
        asked = true;
        // The file appears only once `cat` has written all of it.
        child.stdin.write(`migrate "exec:cat > ${file}.part && mv ${file}.part ${file}"\n`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.stdin.on('error', () => undefined);
    child.on('close', () => {
      clearInterval(poll);
      clearTimeout(timer);
      if (!existsSync(file)) {
        // QEMU's own message, "<binary>: <message>" (after the monitor prompt on 7.2), the last
        // one that is not a warning.
        const tag = `${r.binary}: `;
        const error = output
          .split('\n')
          .filter((l) => l.includes(tag))
          .map((l) => l.slice(l.lastIndexOf(tag) + tag.length).trim())
          .filter((l) => !l.startsWith('warning:'))
          .pop();
        resolve({ ok: false, error: error ?? 'no stream' });
        return;
      }
      const info = readStream([readFileSync(file)]);
      rmSync(file);
      const cpu0 = info.cpus.find((c) => c.instance === 0);
      if (!cpu0) {
        resolve({ ok: false, error: 'no cpu section' });
        return;
      }
      resolve({ ok: true, ids: [...cpu0.indexes].map((id) => '0x' + id.toString(16).padStart(16, '0')) });
    });
  });
}

/** Runs `jobs` at most `width` at a time. */
async function pool<T>(jobs: (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = new Array<T>(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      const job = jobs[i];
      if (job) results[i] = await job();
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  return results;
}

/** Ascending indexes as "0-5,7,9-20". */
function ranges(ix: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < ix.length;) {
    let j = i;
    while (j + 1 < ix.length && (ix[j + 1] ?? 0) === (ix[j] ?? 0) + 1) j++;
    parts.push(i === j ? `${ix[i]}` : `${ix[i]}-${ix[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out) throw new Error('usage: measure-names.js OUT.json');
  const work = mkdtempSync(join(tmpdir(), 'measure-names-'));
  writeFileSync(join(work, 'zero.bin'), Buffer.alloc(4096));
  const versions: Record<string, string> = {};
  const lists = new Map<string, string[]>();
  const refused = new Map<string, string>();
  try {
    for (const q of qemus()) {
      versions[q.label] = version(q);
      // First -M virt plain for every model: a model it accepts gets the other option sets, a
      // model it refuses (pre-v7, R profile, Cortex-A8/A9) is measured on the empty machine
      // `-M none` (a CPU and nothing else; it refuses only M profile).
      const plain: Run[] = BINARIES.flatMap((binary) =>
        cpuModels(q, binary).map((cpu) => ({ qemu: q, binary, machine: 'virt', cpu })),
      );
      const first = await pool(
        plain.map((r) => () => measure(r, work)),
        2,
      );
      const more: Run[] = [];
      plain.forEach((r, i) => {
        const o = first[i];
        if (!o) return;
        if (o.ok) {
          lists.set(key(r), o.ids);
          for (const machine of VIRT_MACHINES.slice(1)) more.push({ ...r, machine });
        } else {
          refused.set(key(r), o.error);
          more.push({ ...r, machine: 'none' });
        }
      });
      for (const e of EXTRA_VIRT) more.push({ qemu: q, ...e });
      for (const b of BOARDS) {
        if (machines(q, b.binary).has(b.machine)) more.push({ qemu: q, ...b });
      }
      const rest = await pool(
        more.map((r) => () => measure(r, work)),
        2,
      );
      more.forEach((r, i) => {
        const o = rest[i];
        if (!o) return;
        if (o.ok) lists.set(key(r), o.ids);
        else refused.set(key(r), o.error);
        process.stderr.write(`${key(r)}: ${o.ok ? o.ids.length : o.error}\n`);
      });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const ids = [...new Set([...lists.values()].flat())].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  const at = new Map(ids.map((id, i) => [id, i]));
  const sortedKeys = <V>(m: Map<string, V>): [string, V][] => [...m].sort(([a], [b]) => (a < b ? -1 : 1));
  // Many lists are equal (a model under both binaries, or under -M none): each is stored once.
  const distinct: string[] = [];
  const distinctAt = new Map<string, number>();
  const distinctIndex = (l: string[]): number => {
    const r = ranges(l.map((id) => at.get(id) ?? -1));
    let i = distinctAt.get(r);
    if (i === undefined) {
      i = distinct.length;
      distinct.push(r);
      distinctAt.set(r, i);
    }
    return i;
  };
  for (const [, l] of sortedKeys(lists)) distinctIndex(l);
  const fixture = {
    about:
      'cpreg ids (cpu section of vCPU 0) of TCG migration streams of real QEMU, per "<version> <binary> -M <machine> -cpu <model>"; ' +
      'lists[key] indexes distinct, whose entries are ranges of indexes into ids. refused: what QEMU said. ' +
      'Made by scripts/measure-names.sh; see docs/names.md.',
    qemu: versions,
    ids,
    distinct,
    lists: Object.fromEntries(sortedKeys(lists).map(([k, l]) => [k, distinctIndex(l)])),
    refused: Object.fromEntries(sortedKeys(refused)),
  };
  writeFileSync(out, JSON.stringify(fixture, null, 1) + '\n');
  process.stderr.write(`${lists.size} lists (${ids.length} distinct ids), ${refused.size} refused -> ${out}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
