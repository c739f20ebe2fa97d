/**
 * Measures QEMU's register model: for each QEMU (7.2, 10.0), binary (qemu-system-aarch64,
 * qemu-system-arm) and TCG CPU model that boots under `-M virt`, and for every register of its
 * cpreg list, what a migration load (`-incoming`, QEMU's cpu_post_load) does with a value:
 *
 *   - the bits a raw write keeps (`keep`; 0 = a constant: any change is refused),
 *   - which other registers' state a write changes (so a lower-id register is overwritten on load by
 *     a higher one written after it, e.g. TPIDRURW by TPIDR_EL0),
 *   - the reset value (smp 1) and whether it depends on the vCPU count.
 *
 * Facts only, measured from QEMU: a paused idle VM (`-S -m 64 -display none -nodefaults -monitor
 * stdio -smp 8`) is migrated to a file; values of its cpu sections are patched (one test per vCPU,
 * so 8 tests per QEMU run: QEMU loads the vCPUs in order and names the first it refuses); the
 * patched stream is loaded with `-incoming`, and an accepted load is migrated out again and read
 * back with the repo's own stream reader. docs/register-model.md explains the method.
 *
 * Run with scripts/probe-register-model.sh (compiles this file: ts-node is not installed):
 *   node probe-register-model.js [--out DIR] [--only 7.2:qemu-system-aarch64:max,...] [--exhaustive]
 *                                [--no-variants] [--json FILE] [--update FILE] [--from-json FILE]
 * Environment: QEMU72_PREFIX (default: the binaries on PATH), CPREG_QEMU10_DIR (default
 * /opt/qemu-10.0), PROBE_JOBS (QEMUs at once, default 2), QEMU_TIMEOUT (seconds per run, 30).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockLayout, readStream, type StreamInfo } from '../domain/qemu-stream';
import { isReadOnlyIdRegister } from '../domain/vmstate/read-only-ids';

const M64 = (1n << 64n) - 1n;
const LOW32 = 0xffffffffn;
/** Two non-periodic complementary patterns (golden ratio bits): a shift maps them to other values. */
const PAT1 = 0x9e3779b97f4a7c15n;
const PAT2 = M64 ^ PAT1;

export type QemuVersion = '7.2' | '10.0';
export type Binary = 'qemu-system-aarch64' | 'qemu-system-arm';
export const BINARIES: readonly Binary[] = ['qemu-system-aarch64', 'qemu-system-arm'];

export interface Qemu {
  version: QemuVersion;
  bin(binary: Binary): string;
  /** Extra arguments (the firmware folder of an unpacked QEMU). */
  args: string[];
}

/** The two QEMUs: 7.2 from PATH (or QEMU72_PREFIX), 10.0 unpacked in CPREG_QEMU10_DIR. */
export function qemuInstalls(env: NodeJS.ProcessEnv = process.env): Qemu[] {
  const prefix = env.QEMU72_PREFIX ?? '';
  const dir = env.CPREG_QEMU10_DIR ?? '/opt/qemu-10.0';
  return [
    { version: '7.2', bin: (b) => (prefix ? join(prefix, b) : b), args: [] },
    { version: '10.0', bin: (b) => join(dir, 'usr/bin', b), args: ['-L', join(dir, 'usr/share/qemu')] },
  ];
}

/** QEMU's version line ("QEMU emulator version 7.2.22 (…)"), or undefined when it does not run. */
export function qemuVersionLine(q: Qemu, binary: Binary = 'qemu-system-aarch64'): string | undefined {
  const r = spawnSync(q.bin(binary), [...q.args, '--version'], { encoding: 'utf8', timeout: 10000 });
  if (r.status !== 0) return undefined;
  const line = (r.stdout.split('\n')[0] ?? '').trim();
  return /QEMU emulator version/.test(line) ? line : undefined;
}

/** `-M virt -cpu help`: the model names (without " (deprecated)"). */
export function cpuModels(q: Qemu, binary: Binary): string[] {
  const r = spawnSync(q.bin(binary), [...q.args, '-M', 'virt', '-cpu', 'help'], { encoding: 'utf8', timeout: 10000 });
  return r.stdout
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((m) => m !== '');
}

// ---------------------------------------------------------------------------------------------
// Running QEMU: at most `jobs` at once, each bounded in time.

export interface VmSpec {
  qemu: Qemu;
  binary: Binary;
  /** -M value, e.g. "virt" or "virt-7.2" (QEMU 10.0 loading a 7.2 stream). */
  machine: string;
  /** -cpu value, e.g. "max" or "max,pauth=off". */
  cpu: string;
  smp: number;
}

export interface RunOutcome {
  /** accepted: loaded (or nothing to load) and, if asked, migrated out; refused: QEMU failed the load. */
  kind: 'accepted' | 'refused' | 'failed';
  /** The vCPU whose cpu section QEMU refused ("instance 0xN of device 'cpu'"), if it said so. */
  instance?: number;
  /** QEMU's own error lines (without the binary name), for refusals and failures. */
  errors: string[];
  /** The stream migrated out, when asked for and accepted. */
  stream?: Buffer;
  ms: number;
}

class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/** Runs QEMU; at most PROBE_JOBS (default 2) at once in this process. */
export class QemuRunner {
  private readonly slots: Slots;
  private readonly dir: string;
  private seq = 0;
  runs = 0;
  refusals = 0;

  constructor(
    jobs = Number(process.env.PROBE_JOBS ?? 2),
    private readonly timeoutMs = Number(process.env.QEMU_TIMEOUT ?? 30) * 1000,
  ) {
    this.slots = new Slots(Math.max(1, jobs));
    this.dir = mkdtempSync(join(tmpdir(), 'cpreg-probe-'));
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Starts a paused VM (`-S`), loads `incoming` if given (`-incoming "exec:cat FILE"`), and, when
   * `migrateOut`, migrates it to a file that is read back. Without `incoming` the VM is fresh.
   */
  async run(vm: VmSpec, opts: { incoming?: Uint8Array; migrateOut: boolean }): Promise<RunOutcome> {
    await this.slots.take();
    const n = this.seq++;
    const inFile = join(this.dir, `in${n}.mig`);
    const outFile = join(this.dir, `out${n}.mig`);
    try {
      if (opts.incoming) writeFileSync(inFile, opts.incoming);
      const r = await this.spawnOnce(vm, opts.incoming ? inFile : undefined, opts.migrateOut ? outFile : undefined);
      this.runs++;
      if (r.kind === 'refused') this.refusals++;
      return r;
    } finally {
      rmSync(inFile, { force: true });
      rmSync(outFile, { force: true });
      rmSync(outFile + '.part', { force: true });
      this.slots.give();
    }
  }

  private spawnOnce(vm: VmSpec, incoming: string | undefined, out: string | undefined): Promise<RunOutcome> {
    const t0 = Date.now();
    const args = [
      ...vm.qemu.args,
      ...['-M', vm.machine, '-cpu', vm.cpu, '-smp', String(vm.smp), '-m', '64'],
      ...['-display', 'none', '-S', '-monitor', 'stdio', '-nodefaults'],
      ...(incoming ? ['-incoming', `exec:cat ${incoming}`] : []),
    ];
    return new Promise((resolve) => {
      const child = spawn(vm.qemu.bin(vm.binary), args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let log = '';
      let loaded = !incoming;
      let asked = false;
      let done = false;
      let outcome: RunOutcome['kind'] | undefined;
      let stream: Buffer | undefined;
      const onData = (d: Buffer): void => {
        log += d.toString('latin1');
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.stdin.on('error', () => undefined);
      const send = (cmd: string): void => {
        if (child.exitCode === null && !child.stdin.destroyed) child.stdin.write(cmd + '\n');
      };
      let ticks = 0;
      const finish = (kind: RunOutcome['kind']): void => {
        if (done) return;
        done = true;
        outcome = kind;
        child.kill('SIGKILL');
      };
      const tick = setInterval(() => {
        if (done || child.exitCode !== null) return;
        ticks++;
        if (!loaded) {
          // "inmigrate" until the stream is loaded; QEMU exits by itself when the load fails.
          const states = [...log.matchAll(/VM status: ([^\r\n]*)/g)].map((m) => m[1] ?? '');
          const last = states[states.length - 1];
          if (last !== undefined && !/inmigrate/.test(last)) loaded = true;
          else if (ticks % 2 === 0) send('info status');
          if (!loaded) return;
        }
        if (!out) return finish('accepted');
        if (!asked && /\(qemu\)/.test(log)) {
          asked = true;
          // The file appears only once `cat` has written all of it (then QEMU is killed: its own
          // quit after a migration takes a second).
          send(`migrate "exec:cat > ${out}.part && mv ${out}.part ${out}"`);
        }
        if (asked && existsSync(out)) {
          stream = readFileSync(out);
          finish('accepted');
        }
      }, 10);
      const timer = setTimeout(() => finish('failed'), this.timeoutMs);
      child.on('close', (_code, signal) => {
        clearInterval(tick);
        if (signal && outcome === undefined) log += `\n${vm.binary}: ended by ${signal}\n`;
        clearTimeout(timer);
        const tag = `${vm.binary}: `;
        const errors = log
          .split(/\r?\n/)
          .filter((l) => l.includes(tag))
          .map((l) => l.slice(l.lastIndexOf(tag) + tag.length).trim())
          .filter((l) => l !== '' && !l.startsWith('warning:'));
        const m = /error while loading state for instance 0x([0-9a-f]+) of device 'cpu'/.exec(log);
        let kind: RunOutcome['kind'];
        if (outcome === 'accepted') kind = 'accepted';
        else if (outcome === 'failed') kind = 'failed';
        // QEMU ended by itself while loading: it refused the stream (with an error, or by an abort:
        // 10.0 asserts in vmstate_load_state on some streams of other CPU models).
        else if (incoming && !loaded) kind = 'refused';
        else kind = 'failed';
        const r: RunOutcome = { kind, errors, ms: Date.now() - t0 };
        if (m) r.instance = parseInt(m[1] ?? '0', 16);
        if (stream) r.stream = stream;
        resolve(r);
      });
    });
  }
}

// ---------------------------------------------------------------------------------------------
// One target: its idle streams and the tests run against them.

export interface Target {
  qemu: Qemu;
  binary: Binary;
  cpu: string;
  machine: string;
}

export function targetKey(t: {
  qemu: Qemu | { version: string };
  binary: string;
  cpu: string;
  machine: string;
}): string {
  return `${t.qemu.version}:${t.binary}:${t.cpu}${t.machine === 'virt' ? '' : '@' + t.machine}`;
}

/** How many vCPUs carry one test each. `-M virt` (GICv2) takes at most 8. */
export const PROBE_SMP = 8;

/** A test: write `flip` XOR the vCPU's own value into register `reg`; accepted or refused. */
interface Test {
  reg: number;
  flip: bigint;
  /** What we expect, to order a run: a refused vCPU ends the run, later vCPUs are not loaded. */
  expect: 'accept' | 'unknown' | 'refuse';
  /** Needs the values QEMU migrates out after an accepted load. */
  readback?: boolean;
  /** `readback`: the values of the test's vCPU that QEMU migrated out; `base`: its idle values. */
  done(ok: boolean, readback?: BigUint64Array, base?: BigUint64Array): void;
}

/** A register's effect on another: after writing `by`, `target` reads (by >> shift) & cover in those bits. */
export interface Effect {
  by: number;
  /** Right shift from `by`'s value to `target`'s bits (negative: left); null when no shift fits. */
  shift: number | null;
  cover: bigint;
}

export interface RegisterFacts {
  id: bigint;
  /** vCPU 0's value in a fresh `-smp 1` VM. */
  reset: bigint;
  /** The value differs between vCPUs or with the vCPU count (e.g. L2CTLR's core count). */
  varies: boolean;
  /** Changes between loading an unchanged stream and migrating it out again (a counter). */
  volatile: boolean;
  /** Bits a raw write keeps: each proven by an accepted load. */
  keep: bigint;
  /** Bits proven not kept (a load flipping that bit alone was refused). */
  refused: bigint;
  /** Neither: assumed not kept (see docs/register-model.md, "sampling"). */
  unverified: bigint;
  /** Writes of other registers that change this one's state. */
  by: Effect[];
  /**
   * Bits that did not come back out as loaded, no other register explaining it (0n: none), e.g.
   * a timer's ISTATUS, recomputed from the timer after the load.
   */
  unstable: bigint;
  /** Multi-bit values within `keep` that QEMU refused (the mask alone does not describe it). */
  anomalies: string[];
  /** How the mask was measured: every bit tested, or from a prior model with samples. */
  method: 'exhaustive' | 'sampled';
}

export interface TargetFacts {
  key: string;
  qemu: QemuVersion;
  binary: Binary;
  cpu: string;
  machine: string;
  /** The machine type the stream records (e.g. "virt-7.2"). */
  machineType: string;
  regs: RegisterFacts[];
  runs: number;
  refusals: number;
  ms: number;
}

/** What an exhaustive measurement of an id found, for later models of the same QEMU. */
interface Prior {
  keep: bigint;
  from: string;
  version: string;
}
export type Priors = Map<string, Prior>;

function bits(x: bigint): number[] {
  const out: number[] = [];
  for (let b = 0; b < 64; b++) if ((x >> BigInt(b)) & 1n) out.push(b);
  return out;
}
function shr(x: bigint, s: number): bigint {
  return (s >= 0 ? x >> BigInt(s) : x << BigInt(-s)) & M64;
}

export class TargetProbe {
  private info!: StreamInfo;
  private base!: Buffer;
  private vm!: VmSpec;
  private values: BigUint64Array[] = [];
  ids: BigUint64Array = new BigUint64Array(0);
  private t0 = 0;
  private runs0 = 0;
  private ref0 = 0;

  constructor(
    readonly target: Target,
    private readonly runner: QemuRunner,
    private readonly log: (s: string) => void = () => undefined,
  ) {}

  /** Makes the idle streams. Answers QEMU's error when the model does not run under this machine. */
  async init(): Promise<string | undefined> {
    this.t0 = Date.now();
    this.runs0 = this.runner.runs;
    this.ref0 = this.runner.refusals;
    const t = this.target;
    this.vm = { qemu: t.qemu, binary: t.binary, machine: t.machine, cpu: t.cpu, smp: PROBE_SMP };
    const r = await this.runner.run(this.vm, { migrateOut: true });
    if (r.kind !== 'accepted' || !r.stream) return r.errors.join('; ') || 'no stream';
    this.base = r.stream;
    this.info = readStream([this.base]);
    if (this.info.cpus.length !== PROBE_SMP) return `expected ${PROBE_SMP} cpu sections`;
    this.ids = this.info.cpus[0]!.indexes;
    for (const c of this.info.cpus) {
      if (c.format !== 'v22' || c.n !== this.ids.length) return 'unexpected cpu section layout';
      this.values.push(c.values);
    }
    return undefined;
  }

  /** Writes `value` into vCPU `cpu`'s slot of register `reg` of a copy of the idle stream. */
  private patch(buf: Buffer, cpu: number, reg: number, value: bigint): void {
    const c = this.info.cpus[cpu]!;
    buf.writeBigUInt64BE(value, c.blockOffset + blockLayout(c).values + 8 * reg);
  }

  /** Runs tests PROBE_SMP per QEMU run (ordered accept → unknown → refuse), two runs at a time. */
  async runTests(tests: Test[]): Promise<void> {
    const rank = { accept: 0, unknown: 1, refuse: 2 } as const;
    const queue = tests.slice().sort((a, b) => rank[a.expect] - rank[b.expect]);
    const worker = async (): Promise<void> => {
      while (queue.length > 0) {
        // Up to SMP-1 tests expected to load, then one expected to be refused (it ends the run).
        const batch: Test[] = [];
        while (batch.length < PROBE_SMP - 1 && queue.length > 0 && queue[0]!.expect !== 'refuse')
          batch.push(queue.shift()!);
        const needsReadback = batch.some((t) => t.readback);
        if (!needsReadback && batch.length < PROBE_SMP) {
          const k = queue.findIndex((t) => t.expect === 'refuse');
          if (k >= 0) batch.push(queue.splice(k, 1)[0]!);
        }
        if (batch.length === 0) batch.push(queue.shift()!);
        const buf = Buffer.from(this.base);
        batch.forEach((t, cpu) => this.patch(buf, cpu, t.reg, this.values[cpu]![t.reg]! ^ t.flip));
        let r = await this.runner.run(this.vm, { incoming: buf, migrateOut: needsReadback });
        if (r.kind === 'failed') r = await this.runner.run(this.vm, { incoming: buf, migrateOut: needsReadback });
        if (r.kind === 'failed') throw new Error(`${targetKey(this.target)}: QEMU run failed: ${r.errors.join('; ')}`);
        if (r.kind === 'accepted') {
          const back = r.stream ? readStream([r.stream]) : undefined;
          batch.forEach((t, cpu) => t.done(true, back?.cpus[cpu]?.values, this.values[cpu]));
          continue;
        }
        const at = r.instance ?? 0;
        batch.forEach((t, cpu) => {
          if (cpu < at && !t.readback) t.done(true);
          else if (cpu === at) t.done(false);
        });
        // Not loaded (after the refused vCPU), or loaded without a readback: run again.
        queue.unshift(...batch.filter((t, cpu) => cpu > at || (cpu < at && t.readback)));
      }
    };
    await Promise.all([worker(), worker()]);
  }

  /**
   * The whole measurement of this target; with `only`, of those registers alone (the others are
   * left out of every round: their facts are empty).
   */
  async measure(priors: Priors, exhaustive: boolean, only?: ReadonlySet<bigint>): Promise<TargetFacts> {
    const n = this.ids.length;
    const skip = (reg: number): boolean => only !== undefined && !only.has(this.ids[reg]!);
    const v0 = this.values[0]!;
    const keep = new Array<bigint>(n).fill(0n);
    const refused = new Array<bigint>(n).fill(0n);
    const method = new Array<'exhaustive' | 'sampled'>(n).fill('exhaustive');
    const anomalies: string[][] = Array.from({ length: n }, () => []);
    const single = (reg: number, b: number, expect: Test['expect']): Test => ({
      reg,
      flip: 1n << BigInt(b),
      expect,
      done: (ok) => {
        if (ok) keep[reg]! |= 1n << BigInt(b);
        else refused[reg]! |= 1n << BigInt(b);
      },
    });
    const group = (reg: number, flip: bigint, expect: Test['expect'], then: (ok: boolean) => void): Test => ({
      reg,
      flip,
      expect,
      done: (ok) => {
        if (ok) keep[reg]! |= flip;
        then(ok);
      },
    });

    // Control: every vCPU loaded unchanged and read back; a register that changes anyway is volatile.
    const volatile = new Array<boolean>(n).fill(false);
    await this.runTests(
      Array.from({ length: PROBE_SMP }, (): Test => ({
        reg: 0,
        flip: 0n,
        expect: 'accept',
        readback: true,
        done: (ok, back, base) => {
          if (!ok || !back || !base) throw new Error(`${targetKey(this.target)}: its own idle stream does not load`);
          for (let z = 0; z < n; z++) if (back[z] !== base[z]) volatile[z] = true;
        },
      })),
    );
    this.log(`${targetKey(this.target)}: ${n} registers; masks`);

    // Round 1: the whole register (no prior), or the prior's kept bits plus samples of its refused
    // bits. Without a prior a refused register is split into halves (round 2) and a refused half is
    // measured bit by bit (round 3) — except in the architectural ID space (read-only-ids.ts),
    // where a few bits of each refused half are sampled: those registers are constants on every
    // model measured bit by bit so far (docs/register-model.md).
    const round1: Test[] = [];
    const round2: Test[] = [];
    const round3: Test[] = [];
    const contradicted = new Set<number>();
    const sample = (reg: number, b: number): Test => ({
      ...single(reg, b, 'refuse'),
      done: (ok) => {
        if (ok) {
          keep[reg]! |= 1n << BigInt(b);
          contradicted.add(reg);
        } else refused[reg]! |= 1n << BigInt(b);
      },
    });
    for (let reg = 0; reg < n; reg++) {
      if (skip(reg)) continue;
      const id = this.ids[reg]!;
      const v = this.target.qemu.version;
      const h = id.toString(16);
      const o = machineOptions(this.target.machine);
      const prior = exhaustive
        ? undefined
        : (priors.get(`${v}:${o}:${h}`) ?? priors.get(`${v}::${h}`) ?? priors.get(`${v}:${h}`) ?? priors.get(h));
      if (!prior && !exhaustive && isReadOnlyIdRegister(id)) {
        // Four single bits, one at each end of each half; a kept one sends it bit by bit.
        method[reg] = 'sampled';
        for (const b of [0, 31, 32, 63]) round1.push(sample(reg, b));
        continue;
      }
      if (!prior) {
        const half = (lo: boolean): Test =>
          group(reg, lo ? LOW32 : M64 ^ LOW32, 'unknown', (ok) => {
            if (!ok) for (let b = lo ? 0 : 32; b < (lo ? 32 : 64); b++) round3.push(single(reg, b, 'unknown'));
          });
        round1.push(
          group(reg, M64, 'unknown', (ok) => {
            if (!ok) round2.push(half(true), half(false));
          }),
        );
        continue;
      }
      method[reg] = 'sampled';
      if (prior.keep !== 0n) {
        round1.push(
          group(reg, prior.keep, 'accept', (ok) => {
            if (!ok) for (const b of bits(prior.keep)) round2.push(single(reg, b, 'accept'));
          }),
        );
      }
      // Samples of the prior's refused bits: the lowest; from another QEMU version the highest too.
      const cand = bits(M64 ^ prior.keep);
      const picks = prior.version === v ? [cand[0]] : [cand[0], cand[cand.length - 1]];
      for (const b of new Set(picks)) if (b !== undefined) round1.push(sample(reg, b));
    }
    await this.runTests(round1);
    await this.runTests(round2);
    await this.runTests(round3);
    // A sample contradicted the prior (or the ID-space convention): measure every bit not yet known.
    round3.length = 0;
    for (const reg of contradicted) {
      method[reg] = 'exhaustive';
      anomalies[reg]!.push('a sampled bit was kept: measured bit by bit');
      for (const b of bits(M64 ^ keep[reg]! ^ refused[reg]!)) round3.push(single(reg, b, 'unknown'));
    }
    await this.runTests(round3);

    // Round 4: all ones and all zeros in the kept bits (the mask is the whole story only if these
    // load too; round 5 flips them all and in two patterns).
    const round4: Test[] = [];
    for (let reg = 0; reg < n; reg++) {
      if (skip(reg)) continue;
      const k = keep[reg]!;
      if (k === 0n) continue;
      const v = v0[reg]!;
      const ones = (v | k) ^ v;
      const zeros = v & k;
      for (const [what, flip] of [
        ['kept bits all ones', ones],
        ['kept bits all zeros', zeros],
      ] as const) {
        if (flip === 0n) continue;
        round4.push({
          reg,
          flip,
          expect: 'accept',
          done: (ok) => {
            if (!ok) anomalies[reg]!.push(`refused: ${what} (flip 0x${flip.toString(16)})`);
          },
        });
      }
    }
    this.log(`${targetKey(this.target)}: combinations and effects`);
    await this.runTests(round4);

    // Round 5: effects. Each writable register alone, with two patterns in its kept bits; every other
    // register that changes was written over by it (or reads its state).
    const by: Effect[][] = Array.from({ length: n }, () => []);
    const unstable = new Array<bigint>(n).fill(0n);
    const seen: { flip: bigint; back: BigUint64Array; base: BigUint64Array }[][] = Array.from({ length: n }, () => []);
    const round5: Test[] = [];
    for (let reg = 0; reg < n; reg++) {
      if (skip(reg)) continue;
      const k = keep[reg]!;
      if (k === 0n) continue;
      const flips = new Set([k & PAT1, k & PAT2, k]);
      for (const flip of flips) {
        if (flip === 0n) continue;
        round5.push({
          reg,
          flip,
          expect: 'accept',
          readback: true,
          done: (ok, back, base) => {
            if (ok && back && base) seen[reg]!.push({ flip, back, base });
            else if (!ok) anomalies[reg]!.push(`refused: kept bits flipped 0x${flip.toString(16)}`);
          },
        });
      }
    }
    await this.runTests(round5);
    for (let b = 0; b < n; b++) {
      const obs = seen[b]!;
      if (obs.length === 0) continue;
      // Which registers changed, and how.
      const changed = new Map<number, bigint[]>();
      obs.forEach(({ back, base }, k) => {
        for (let z = 0; z < n; z++) {
          const d = back[z]! ^ base[z]!;
          if (z === b || volatile[z]) continue;
          if (d !== 0n) {
            if (!changed.has(z)) changed.set(z, new Array<bigint>(obs.length).fill(0n));
            changed.get(z)![k] = d;
          }
        }
      });
      for (const [z, ds] of changed) {
        const cover = ds.reduce((a, d) => a | d, 0n);
        let shift: number | null = null;
        for (const s of [0, 32, -32, ...Array.from({ length: 127 }, (_, i) => i - 63)]) {
          if (obs.every(({ flip }, k) => (shr(flip, s) & cover) === ds[k])) {
            shift = s;
            break;
          }
        }
        by[z]!.push({ by: b, shift, cover });
      }
    }
    // A register whose own value did not come back out: unstable in those bits, unless a register
    // written after it changes it (then by[] says which).
    for (let reg = 0; reg < n; reg++) {
      for (const { flip, back, base } of seen[reg]!) {
        if (volatile[reg] || by[reg]!.some((e) => e.by > reg)) continue;
        unstable[reg]! |= back[reg]! ^ base[reg]! ^ flip;
      }
    }

    // Reset values: vCPU 0 of a fresh -smp 1 VM; "varies" when vCPUs or the count disagree.
    const one = await this.runner.run({ ...this.vm, smp: 1 }, { migrateOut: true });
    if (one.kind !== 'accepted' || !one.stream) throw new Error(`${targetKey(this.target)}: no -smp 1 stream`);
    const c1 = readStream([one.stream]).cpus[0]!;
    if (c1.n !== n || c1.indexes.some((id, i) => id !== this.ids[i])) {
      throw new Error(`${targetKey(this.target)}: -smp 1 lists other registers than -smp ${PROBE_SMP}`);
    }
    const regs: RegisterFacts[] = [];
    for (let reg = 0; reg < n; reg++) {
      const varies = this.values.some((vs) => vs[reg] !== c1.values[reg]);
      regs.push({
        id: this.ids[reg]!,
        reset: c1.values[reg]!,
        varies,
        volatile: volatile[reg]!,
        keep: keep[reg]!,
        refused: refused[reg]! & ~keep[reg]!,
        unverified: M64 & ~keep[reg]! & ~refused[reg]!,
        by: by[reg]!.sort((x, y) => x.by - y.by),
        unstable: unstable[reg]!,
        anomalies: anomalies[reg]!,
        method: method[reg]!,
      });
    }
    const t = this.target;
    return {
      key: targetKey(t),
      qemu: t.qemu.version,
      binary: t.binary,
      cpu: t.cpu,
      machine: t.machine,
      machineType: this.info.machine ?? t.machine,
      regs,
      runs: this.runner.runs - this.runs0,
      refusals: this.runner.refusals - this.ref0,
      ms: Date.now() - this.t0,
    };
  }
}

/**
 * A register measured bit by bit (or an ID-space register sampled without a prior) becomes the
 * prior of the same id in later models: of the same QEMU version first, else of any.
 */
export function addPriors(priors: Priors, facts: TargetFacts): void {
  const o = machineOptions(facts.machine);
  for (const r of facts.regs) {
    if (r.anomalies.some((a) => a.startsWith('refused'))) continue;
    if (r.method === 'exhaustive' ? r.unverified !== 0n : !isReadOnlyIdRegister(r.id)) continue;
    const h = r.id.toString(16);
    // Machine options change how registers behave (EL3 banks the AArch32 registers, EL2 redirects
    // VBAR_EL1): a prior of the same options comes first.
    for (const k of [`${facts.qemu}:${o}:${h}`, `${facts.qemu}:${h}`, h]) {
      if (!priors.has(k)) priors.set(k, { keep: r.keep, from: facts.key, version: facts.qemu });
    }
  }
}

/** A -M value's options, sorted ("virt,virtualization=on,secure=on" → "secure=on,virtualization=on"). */
export function machineOptions(machine: string): string {
  return machine.split(',').slice(1).sort().join(',');
}

/** The committed facts of one register, as the freshness check compares them. */
export interface CommittedFact {
  id: bigint;
  keep: bigint;
  reset: bigint;
  volatile: boolean;
  varies: boolean;
  unstable: bigint;
  writers: readonly { by: bigint; shift: number | null; cover: bigint }[];
}

/**
 * A few registers of each kind, and the writers of the overwritten ones (an effect is seen by
 * patching its writer): the freshness sample of one model.
 */
export function sampleIds(facts: readonly CommittedFact[], per = 2): bigint[] {
  const M = M64;
  const kinds: ((f: CommittedFact) => boolean)[] = [
    (f) => f.keep === 0n && isReadOnlyIdRegister(f.id),
    (f) => f.keep === 0n && !isReadOnlyIdRegister(f.id),
    (f) => f.keep === M,
    (f) => f.keep === LOW32,
    (f) => f.keep !== 0n && f.keep !== M && f.keep !== LOW32,
    (f) => f.writers.some((w) => w.by > f.id),
  ];
  const out = new Set<bigint>();
  for (const k of kinds) {
    const hits = facts.filter((f) => !f.volatile && k(f));
    // Spread over the list: the first and the middle one.
    for (const f of [hits[0], hits[Math.floor(hits.length / 2)]].slice(0, per)) {
      if (!f) continue;
      out.add(f.id);
      for (const w of f.writers) out.add(w.by);
    }
  }
  return [...out].sort((a, b) => (a < b ? -1 : 1));
}

/**
 * Re-measures `ids` of one target with the committed masks as priors (their kept bits together,
 * two of the other bits alone), the list and every reset value, and answers the differences from
 * the committed facts (empty: fresh).
 */
export async function checkSample(
  runner: QemuRunner,
  target: Target,
  committed: readonly CommittedFact[],
  ids: readonly bigint[],
): Promise<string[]> {
  const key = targetKey(target);
  const probe = new TargetProbe(target, runner);
  const err = await probe.init();
  if (err !== undefined) return [`${key}: does not run: ${err}`];
  const diffs: string[] = [];
  const hex = (x: bigint): string => '0x' + x.toString(16);
  const list = [...probe.ids];
  if (list.length !== committed.length || list.some((id, i) => id !== committed[i]!.id)) {
    const have = new Set(list);
    const had = new Set(committed.map((f) => f.id));
    diffs.push(
      `${key}: the list changed (${committed.length} → ${list.length} registers; ` +
        `new ${
          list
            .filter((id) => !had.has(id))
            .map(hex)
            .join(' ') || '-'
        }, gone ${
          [...had]
            .filter((id) => !have.has(id))
            .map(hex)
            .join(' ') || '-'
        })`,
    );
    return diffs;
  }
  const priors: Priors = new Map(
    committed.map((f) => [
      `${target.qemu.version}:${f.id.toString(16)}`,
      { keep: f.keep, from: 'committed', version: target.qemu.version },
    ]),
  );
  const facts = await probe.measure(priors, false, new Set(ids));
  const index = new Map(list.map((id, i) => [id, i]));
  facts.regs.forEach((r, i) => {
    const c = committed[i]!;
    if (!c.volatile && !c.varies && r.reset !== c.reset)
      diffs.push(`${key} ${hex(r.id)}: reset ${hex(c.reset)} → ${hex(r.reset)}`);
  });
  const effects = (
    targets: { id: bigint; by: { by: bigint; shift: number | null; cover: bigint }[] }[],
    writer: bigint,
  ): string =>
    targets
      .flatMap((t) => t.by.filter((e) => e.by === writer).map((e) => `${hex(t.id)}:${e.shift}:${hex(e.cover)}`))
      .sort()
      .join(' ');
  const measuredTargets = facts.regs.map((r) => ({ id: r.id, by: r.by.map((e) => ({ ...e, by: list[e.by]! })) }));
  for (const id of ids) {
    const i = index.get(id);
    if (i === undefined) continue;
    const r = facts.regs[i]!;
    const c = committed[i]!;
    if (r.keep !== c.keep) diffs.push(`${key} ${hex(id)}: keeps ${hex(c.keep)} → ${hex(r.keep)}`);
    if (r.anomalies.length > 0) diffs.push(`${key} ${hex(id)}: ${r.anomalies.join('; ')}`);
    if (c.keep === 0n) continue;
    const was = effects(
      committed.map((f) => ({ id: f.id, by: [...f.writers] })),
      id,
    );
    const now = effects(measuredTargets, id);
    if (was !== now) diffs.push(`${key} ${hex(id)}: its writes change ${was || 'nothing'} → ${now || 'nothing'}`);
    if (r.unstable !== c.unstable)
      diffs.push(`${key} ${hex(id)}: unstable bits ${hex(c.unstable)} → ${hex(r.unstable)}`);
  }
  return diffs;
}

// ---------------------------------------------------------------------------------------------
// The generated data (domain/register-model/*.generated.ts): one compact string per model.

/**
 * Per register, space-separated; fields comma-separated:
 *   id (hex, no 0x), keep ('' = 0, 'F' = all 64 bits, 'L' = 0xffffffff, else lower-case hex), reset (hex),
 *   then flags: `r<hex>` the only bits proven not kept (the others outside keep are unverified; absent: all proven), `v` varies with the vCPU, `t` volatile, `x<hex>` bits that did not come back out (unstable), `o<id hex>:<shift|n>:<cover hex>`
 *   a write of that register changes this one, `a` anomalies (multi-bit values refused).
 */
export function encodeRegs(regs: RegisterFacts[], ids: BigUint64Array | bigint[]): string {
  const keepText = (k: bigint): string => (k === 0n ? '' : k === M64 ? 'F' : k === LOW32 ? 'L' : k.toString(16));
  return regs
    .map((r) => {
      const f = [r.id.toString(16), keepText(r.keep), r.reset.toString(16)];
      // Sampled registers: the bits proven not kept (the rest of ~keep is unverified).
      if (r.unverified !== 0n) f.push('r' + r.refused.toString(16));
      if (r.varies) f.push('v');
      if (r.volatile) f.push('t');
      if (r.unstable !== 0n) f.push('x' + r.unstable.toString(16));
      for (const e of r.by) f.push(`o${ids[e.by]!.toString(16)}:${e.shift ?? 'n'}:${e.cover.toString(16)}`);
      if (r.anomalies.some((a) => a.startsWith('refused'))) f.push('a');
      return f.join(',');
    })
    .join(' ');
}

export interface ModelRecord {
  qemu: QemuVersion;
  binary: Binary;
  cpu: string;
  machine: string;
  machineType: string;
  regs: string;
}

export function toRecord(f: TargetFacts, ids: BigUint64Array): ModelRecord {
  return {
    qemu: f.qemu,
    binary: f.binary,
    cpu: f.cpu,
    machine: f.machine,
    machineType: f.machineType,
    regs: encodeRegs(f.regs, ids),
  };
}

const COMMAND = 'scripts/probe-register-model.sh';

export function generatedFile(version: QemuVersion, versionLine: string, models: ModelRecord[]): string {
  const head = [
    `// GENERATED by \`${COMMAND}\` (scripts/probe-register-model.ts) from ${versionLine}.`,
    '// Do not edit: measured from QEMU itself (docs/register-model.md). Each model: the register list',
    '// of -M <machine> -cpu <cpu>, one entry per register: id,keep,reset[,flags] (see encodeRegs).',
    '/* eslint-disable */',
    "import type { GeneratedModel } from './types';",
    '',
    `export const QEMU_${version.replace('.', '_')}_VERSION = ${JSON.stringify(versionLine)};`,
    '',
    `export const QEMU_${version.replace('.', '_')}_MODELS: readonly GeneratedModel[] = [`,
  ];
  const body = models
    .slice()
    .sort((a, b) => (a.binary + a.cpu + a.machine < b.binary + b.cpu + b.machine ? -1 : 1))
    .map(
      (m) =>
        `  {\n    qemu: '${m.qemu}',\n    binary: '${m.binary}',\n    cpu: ${JSON.stringify(m.cpu)},\n` +
        `    machine: ${JSON.stringify(m.machine)},\n    machineType: ${JSON.stringify(m.machineType)},\n` +
        `    regs: ${JSON.stringify(m.regs)},\n  },`,
    );
  return [...head, ...body, '];', ''].join('\n');
}

// ---------------------------------------------------------------------------------------------
// The command line.

/** Extra machine/CPU variants measured besides plain -M virt for every model. */
export const VARIANTS: { version: QemuVersion; binary: Binary; cpu: string; machine: string }[] = [
  ...(['7.2', '10.0'] as const).flatMap((version) =>
    (
      [
        ['qemu-system-aarch64', 'max'],
        ['qemu-system-aarch64', 'cortex-a57'],
        ...(version === '10.0' ? [['qemu-system-aarch64', 'cortex-a710']] : []),
        ['qemu-system-arm', 'cortex-a15'],
      ] as [Binary, string][]
    ).flatMap(([binary, cpu]) =>
      ['virt,secure=on', 'virt,virtualization=on', 'virt,virtualization=on,secure=on'].map((machine) => ({
        version,
        binary,
        cpu,
        machine,
      })),
    ),
  ),
  { version: '10.0', binary: 'qemu-system-aarch64', cpu: 'max', machine: 'virt-7.2' },
  { version: '10.0', binary: 'qemu-system-aarch64', cpu: 'cortex-a57', machine: 'virt-7.2' },
];

/** Models first measured (their registers become the priors of the others). */
const FIRST = ['max'];

interface Options {
  out: string;
  only: Set<string> | undefined;
  exhaustive: boolean;
  json: string | undefined;
  fromJson: string | undefined;
  update: string | undefined;
  variants: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    out: join(process.cwd(), 'domain/register-model'),
    only: undefined,
    exhaustive: false,
    json: undefined,
    fromJson: undefined,
    update: undefined,
    variants: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--out') o.out = next();
    // Keys hold commas ("…@virt,secure=on"): split on ';', or on a comma that starts another key.
    else if (a === '--only')
      o.only = new Set(
        next()
          .split(/;|,(?=\d+\.\d+:)/)
          .filter((k) => k !== ''),
      );
    else if (a === '--exhaustive') o.exhaustive = true;
    else if (a === '--json') o.json = next();
    else if (a === '--no-variants') o.variants = false;
    else if (a === '--from-json') o.fromJson = next();
    else if (a === '--update') o.update = next();
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

/** The facts of a --json file (bigints as hex text) back as TargetFacts. */
function readFacts(file: string): TargetFacts[] {
  interface Plain extends Omit<TargetFacts, 'regs'> {
    regs: (Omit<RegisterFacts, 'id' | 'reset' | 'keep' | 'refused' | 'unverified' | 'unstable' | 'by'> & {
      id: string;
      reset: string;
      keep: string;
      refused: string;
      unverified: string;
      /** Absent in files of an older probe, which said only `lost`: then every kept bit. */
      unstable?: string;
      lost?: boolean;
      by: { by: number; shift: number | null; cover: string }[];
    })[];
  }
  const plain = (JSON.parse(readFileSync(file, 'utf8')) as { facts: Plain[] }).facts;
  const big = (x: string): bigint => BigInt('0x' + x);
  return plain.map((f) => ({
    ...f,
    regs: f.regs.map(({ lost, unstable, ...r }) => ({
      ...r,
      id: big(r.id),
      reset: big(r.reset),
      keep: big(r.keep),
      refused: big(r.refused),
      unverified: big(r.unverified),
      unstable: unstable !== undefined ? big(unstable) : lost ? big(r.keep) : 0n,
      by: r.by.map((e) => ({ ...e, cover: big(e.cover) })),
    })),
  }));
}

function writeFacts(file: string, facts: TargetFacts[], skipped: string[]): void {
  const plain = facts.map((f) => ({
    ...f,
    regs: f.regs.map((r) => ({
      ...r,
      id: r.id.toString(16),
      reset: r.reset.toString(16),
      keep: r.keep.toString(16),
      refused: r.refused.toString(16),
      unverified: r.unverified.toString(16),
      unstable: r.unstable.toString(16),
      by: r.by.map((e) => ({ ...e, cover: e.cover.toString(16) })),
    })),
  }));
  writeFileSync(file, JSON.stringify({ facts: plain, skipped }, null, 1));
}

/** Writes the generated files of these facts, one per QEMU version. */
function writeGenerated(
  out: string,
  facts: TargetFacts[],
  lines: Map<QemuVersion, string>,
  say: (s: string) => void,
): void {
  for (const [version, line] of lines) {
    const models = facts
      .filter((f) => f.qemu === version)
      .map((f) => toRecord(f, BigUint64Array.from(f.regs.map((r) => r.id))));
    if (models.length === 0) continue;
    const file = join(out, `qemu-${version}.generated.ts`);
    writeFileSync(file, generatedFile(version, line, models));
    say(`wrote ${file} (${models.length} models)`);
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.fromJson) {
    const lines = new Map<QemuVersion, string>();
    for (const q of qemuInstalls()) {
      const line = qemuVersionLine(q);
      if (!line) throw new Error(`QEMU ${q.version} not found (${q.bin('qemu-system-aarch64')})`);
      lines.set(q.version, line);
    }
    writeGenerated(opts.out, readFacts(opts.fromJson), lines, (s) => void process.stderr.write(s + '\n'));
    return;
  }
  const runner = new QemuRunner();
  const t0 = Date.now();
  const say = (s: string): void => void process.stderr.write(s + '\n');
  const priors: Priors = new Map();
  // --update FILE: the facts of FILE stay (and are the priors); the targets measured replace theirs.
  const kept = opts.update && existsSync(opts.update) ? readFacts(opts.update) : [];
  for (const f of kept) addPriors(priors, f);
  const byVersion = new Map<QemuVersion, { line: string }>();
  const facts: TargetFacts[] = [];
  const skipped: string[] = [];
  try {
    for (const q of qemuInstalls()) {
      const line = qemuVersionLine(q);
      if (!line) throw new Error(`QEMU ${q.version} not found (${q.bin('qemu-system-aarch64')})`);
      byVersion.set(q.version, { line });
      const targets: Target[] = [];
      for (const binary of BINARIES) {
        const models = cpuModels(q, binary).sort((a, b) => Number(FIRST.includes(b)) - Number(FIRST.includes(a)));
        for (const cpu of models) targets.push({ qemu: q, binary, cpu, machine: 'virt' });
      }
      if (opts.variants) {
        for (const v of VARIANTS) if (v.version === q.version) targets.push({ qemu: q, ...v });
      }
      for (const t of targets) {
        const key = targetKey(t);
        if (opts.only && !opts.only.has(key)) continue;
        const probe = new TargetProbe(t, runner, say);
        const err = await probe.init();
        if (err !== undefined) {
          skipped.push(`${key}: ${err}`);
          continue;
        }
        const f = await probe.measure(priors, opts.exhaustive);
        addPriors(priors, f);
        facts.push(f);
        const count = (pred: (r: RegisterFacts) => boolean): number => f.regs.filter(pred).length;
        say(
          `${key}: ${f.regs.length} registers — ${count((r) => r.keep === 0n)} constant, ` +
            `${count((r) => r.keep !== 0n)} writable, ${count((r) => r.by.length > 0)} changed by others, ` +
            `${count((r) => r.unstable !== 0n)} unstable, ${count((r) => r.anomalies.length > 0)} with anomalies; ` +
            `${count((r) => r.method === 'exhaustive')} measured bit by bit; ` +
            `${f.runs} QEMU runs (${f.refusals} refused), ${(f.ms / 1000).toFixed(1)} s`,
        );
      }
    }
  } finally {
    runner.close();
  }
  const measured = new Set(facts.map((f) => f.key));
  const all = [...kept.filter((f) => !measured.has(f.key)), ...facts];
  writeGenerated(opts.out, all, new Map([...byVersion].map(([v, x]) => [v, x.line])), say);
  if (opts.json) writeFacts(opts.json, facts, skipped);
  if (opts.update) writeFacts(opts.update, all, skipped);
  for (const s of skipped) say(`skipped ${s}`);
  const total = facts.reduce((a, f) => a + f.regs.length, 0);
  say(
    `${facts.length} models, ${total} registers, ${runner.runs} QEMU runs, ${((Date.now() - t0) / 1000).toFixed(0)} s`,
  );
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
