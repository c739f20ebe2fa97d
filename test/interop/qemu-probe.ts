import { layoutArrays, writeValueAt, type CpregArrays } from '../../domain/cpreg-arrays';
import { blockLayout, readStream, type CpuCpregBlock, type StreamInfo } from '../../domain/qemu-stream';
import {
  qemuInstalls,
  qemuVersionLine,
  QemuRunner,
  type Qemu,
  type RunOutcome,
  type VmSpec,
} from '../../scripts/probe-register-model';

/**
 * Helpers for the interop suites that run QEMU 7.2 and 10.0 side by side (the register-model probe's
 * runner: time-bounded runs, at most PROBE_JOBS at once). Which QEMUs are there, and what a suite
 * does without them: under CI=true it fails, locally it skips with one line.
 */
export interface QemuPair {
  q72: Qemu;
  q10: Qemu;
  line72: string;
  line10: string;
}

/** Both QEMUs, or why not. */
export function findQemus(): QemuPair | string {
  const [q72, q10] = qemuInstalls();
  if (!q72 || !q10) return 'no QEMU configured';
  const missing: string[] = [];
  const lines = [q72, q10].map((q) => {
    const l72 = qemuVersionLine(q, 'qemu-system-aarch64');
    const arm = qemuVersionLine(q, 'qemu-system-arm');
    if (!l72 || !arm) missing.push(`QEMU ${q.version} (${q.bin('qemu-system-aarch64')}, qemu-system-arm)`);
    return l72 ?? '';
  });
  if (missing.length > 0) return `not installed: ${missing.join(', ')} (CPREG_QEMU10_DIR, QEMU72_PREFIX)`;
  return { q72, q10, line72: lines[0]!, line10: lines[1]! };
}

/**
 * `describe` when both QEMUs run; otherwise under CI=true a failing test, else a skip announced in
 * one line. CPREG_SKIP_QEMU=1 skips too (as the other interop suites), except under CI.
 */
export function describeWithQemus(name: string, body: (q: QemuPair) => void): void {
  const found = process.env.CPREG_SKIP_QEMU === '1' && process.env.CI !== 'true' ? 'CPREG_SKIP_QEMU=1' : findQemus();
  if (typeof found !== 'string') {
    describe(`${name} (${found.line72}; ${found.line10})`, () => body(found));
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs QEMU 7.2 and 10.0 under CI', () => {
        throw new Error(`${name}: ${found}`);
      });
    });
    return;
  }
  process.stdout.write(`skipped ${name}: ${found}\n`);
  describe.skip(name, () => it('needs QEMU 7.2 and 10.0', () => undefined));
}

export { QemuRunner };
export type { Qemu, RunOutcome, VmSpec };

/**
 * A run that neither loaded nor refused (QEMU_TIMEOUT passed, or QEMU died otherwise: a machine
 * busy with other tests) is run once more: QEMU's verdict is the second run's.
 */
export async function runAgainIfFailed(run: () => Promise<RunOutcome>): Promise<RunOutcome> {
  const r = await run();
  return r.kind === 'failed' ? run() : r;
}

/** A fresh idle stream of this VM (paused, never ran), and what our reader makes of it. */
export async function idleStream(runner: QemuRunner, vm: VmSpec): Promise<{ stream: Buffer; info: StreamInfo }> {
  const r = await runAgainIfFailed(() => runner.run(vm, { migrateOut: true }));
  if (r.kind !== 'accepted' || !r.stream) {
    throw new Error(
      `${vm.qemu.version} ${vm.binary} -M ${vm.machine} -cpu ${vm.cpu}: no stream (${r.errors.join('; ')})`,
    );
  }
  return { stream: r.stream, info: readStream([r.stream]) };
}

/** A cpu section's cpreg block as CpregArrays (v22: one slot per register). */
export function arraysOf(cpu: CpuCpregBlock): CpregArrays {
  const a = layoutArrays(cpu.indexes.slice());
  for (let i = 0; i < cpu.n; i++) writeValueAt(a, i, cpu.values[i]!);
  return a;
}

/** A copy of the stream with some values of one vCPU replaced (same list). */
export function withValues(
  stream: Buffer,
  info: StreamInfo,
  instance: number,
  values: ReadonlyMap<bigint, bigint>,
): Buffer {
  const cpu = info.cpus.find((c) => c.instance === instance)!;
  const out = Buffer.from(stream);
  const at = cpu.blockOffset + blockLayout(cpu).values;
  for (const [id, v] of values) {
    const i = cpu.indexes.indexOf(id);
    if (i < 0) throw new Error(`register 0x${id.toString(16)} not in cpu ${instance}`);
    out.writeBigUInt64BE(v, at + 8 * i);
  }
  return out;
}

/**
 * A copy of the stream whose vCPU `instance` carries another v22 list (ids and values): the cpu
 * section's N, ids and values are replaced in place, the rest of the stream is left as it is.
 * QEMU does not read the vmdesc when loading, so it need not match (our reader would refuse the
 * result; QEMU is the judge here).
 */
export function withList(
  stream: Buffer,
  info: StreamInfo,
  instance: number,
  list: readonly { id: bigint; value: bigint }[],
): Buffer {
  const cpu = info.cpus.find((c) => c.instance === instance)!;
  if (cpu.format !== 'v22') throw new Error('v22 cpu sections only');
  const n = list.length;
  const block = Buffer.alloc(4 + 16 * n);
  block.writeUInt32BE(n, 0);
  list.forEach((r, i) => {
    block.writeBigUInt64BE(r.id, 4 + 8 * i);
    block.writeBigUInt64BE(r.value, 4 + 8 * n + 8 * i);
  });
  return Buffer.concat([stream.subarray(0, cpu.blockOffset), block, stream.subarray(cpu.blockOffset + 4 + 16 * cpu.n)]);
}

/** The values QEMU migrated out for one vCPU (from a stream our reader accepts). */
export function valuesOut(stream: Buffer, instance = 0): Map<bigint, bigint> {
  const cpu = readStream([stream]).cpus.find((c) => c.instance === instance)!;
  return new Map([...cpu.indexes].map((id, i) => [id, cpu.values[i]!]));
}
