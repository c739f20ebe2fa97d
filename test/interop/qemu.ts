import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Real QEMUs for the interop tests: Debian's 7.2 on PATH, and 10.0 unpacked beside it in
 * $CPREG_QEMU10_DIR (default /opt/qemu-10.0; scripts/ci/install-qemu.sh), run with
 * `-L <dir>/usr/share/qemu`. Each run drives a `-M virt` VM through its HMP monitor on stdio and
 * is time-bounded.
 *
 * Skipping: with CI=true the tests never skip (a missing QEMU fails them). Elsewhere, without
 * that QEMU (or with CPREG_SKIP_QEMU=1) they skip, with one line saying so.
 */

export type QemuVersion = '7.2' | '10.0';

export interface Qemu {
  version: QemuVersion;
  /** The first line of `--version`, e.g. "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)". */
  label: string;
  /** The executable and leading arguments to run one of its binaries. */
  command(bin: string): { file: string; args: string[] };
}

export const QEMU10_DIR = process.env.CPREG_QEMU10_DIR || '/opt/qemu-10.0';
const BINARIES = ['qemu-system-aarch64', 'qemu-system-arm'];

function commandOf(version: QemuVersion): Qemu['command'] {
  return version === '7.2'
    ? (bin) => ({ file: bin, args: [] })
    : (bin) => ({ file: join(QEMU10_DIR, 'usr/bin', bin), args: ['-L', join(QEMU10_DIR, 'usr/share/qemu')] });
}

/** That QEMU, if both its binaries run and say they are that version; else why not. */
export function findQemu(version: QemuVersion): Qemu | string {
  const command = commandOf(version);
  let label = '';
  for (const bin of BINARIES) {
    const c = command(bin);
    const r = spawnSync(c.file, [...c.args, '--version'], { encoding: 'utf8', timeout: 10000 });
    const first = r.status === 0 ? (r.stdout.split('\n')[0] ?? '') : '';
    if (!first.startsWith(`QEMU emulator version ${version}.`))
      return `${c.file} ${first ? `is ${first}` : 'does not run'}${version === '10.0' ? ' (CPREG_QEMU10_DIR; scripts/ci/install-qemu.sh)' : ' (apt-get install qemu-system-arm)'}`;
    label = first;
  }
  return { version, label, command };
}

/** The QEMUs whose skip has been reported (once per test file). */
const announced = new Set<QemuVersion>();

/**
 * `describe` for tests that need that QEMU, named after the QEMU they run ("QEMU emulator version
 * … : <title>"). Never skipped with CI=true: a missing QEMU then fails. Elsewhere, a missing QEMU
 * (or CPREG_SKIP_QEMU=1) gives one skipped test whose name says so.
 */
export function describeWithQemu(version: QemuVersion, title: string, body: (qemu: Qemu) => void): void {
  const ci = process.env.CI === 'true';
  const found = findQemu(version);
  if (typeof found !== 'string' && (ci || process.env.CPREG_SKIP_QEMU !== '1')) {
    describe(`${found.label}: ${title}`, () => body(found));
    return;
  }
  const why = typeof found === 'string' ? found : 'CPREG_SKIP_QEMU=1';
  if (ci) {
    describe(`QEMU ${version}: ${title}`, () => {
      it('needs the real QEMU (CI never skips the interop tests)', () => {
        throw new Error(`QEMU ${version} is required in CI: ${why}`);
      });
    });
    return;
  }
  if (!announced.has(version)) process.stderr.write(`QEMU ${version} interop tests skipped: ${why}\n`);
  announced.add(version);
  it.skip(`QEMU ${version} interop skipped: ${why}`, () => undefined);
}

export interface VmSpec {
  bin: string;
  cpu: string;
  smp: number;
  /** The QEMU to run (default: 7.2 on PATH). */
  qemu?: Qemu;
}

export interface RunResult {
  /** Everything QEMU printed (monitor echo, errors). */
  log: string;
  exitCode: number | null;
  /** True if the stream file was produced. */
  migrated: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, child: ChildProcess, deadline: number): Promise<boolean> {
  while (Date.now() < deadline) {
    if (pred()) return true;
    if (child.exitCode !== null || child.signalCode !== null) return pred();
    await sleep(100);
  }
  return false;
}

function start(vm: VmSpec, extra: string[]): { child: ChildProcess; log: () => string } {
  const c = vm.qemu ? vm.qemu.command(vm.bin) : { file: vm.bin, args: [] };
  const args = [
    ...c.args,
    ...['-M', 'virt', '-cpu', vm.cpu, '-smp', String(vm.smp), '-m', '64', '-display', 'none'],
    ...['-monitor', 'stdio', '-nodefaults'],
    ...extra,
  ];
  const child = spawn(c.file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString('latin1')));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString('latin1')));
  child.stdin!.on('error', () => undefined); // QEMU may exit (failed load) before we write
  return { child, log: () => log };
}

/**
 * Starts QEMU paused (optionally with `-incoming "exec:cat FROM"`), waits for the incoming load to
 * finish, migrates out to `out` (the exec command renames OUT.part once `cat` is done, so we poll
 * for OUT), then quits. If the incoming load fails, QEMU exits by itself; the log then holds its
 * error.
 */
export async function migrateOut(vm: VmSpec, out: string, incoming?: string, timeoutMs = 60000): Promise<RunResult> {
  const { child, log } = start(vm, ['-S', ...(incoming ? ['-incoming', `exec:cat ${incoming}`] : [])]);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + timeoutMs;
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 5000);
  const send = (cmd: string): void => {
    if (child.exitCode === null && !child.stdin!.destroyed) child.stdin!.write(cmd + '\n');
  };
  try {
    if (incoming) {
      // Poll the run state: "inmigrate" until the stream is loaded; QEMU exits if loading fails.
      let polls = 0;
      await until(
        () => {
          if (polls++ % 2 === 0) send('info status');
          const states = [...log().matchAll(/VM status: ([^\r\n]*)/g)].map((m) => m[1]!);
          return states.length > 0 && !/inmigrate/.test(states[states.length - 1]!);
        },
        child,
        deadline,
      );
    }
    let migrated = false;
    if (child.exitCode === null) {
      send(`migrate "exec:cat > ${out}.part && mv ${out}.part ${out}"`);
      migrated = await until(() => existsSync(out), child, deadline);
    }
    send('quit');
    child.stdin!.end();
    let t: NodeJS.Timeout | undefined;
    const exitCode = await Promise.race([exited, new Promise<null>((r) => (t = setTimeout(() => r(null), 10000)))]);
    clearTimeout(t);
    if (child.exitCode === null) child.kill('SIGKILL');
    return { log: log(), exitCode, migrated };
  } finally {
    clearTimeout(killer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/**
 * A guest that ran code: QEMU starts vCPU 0 at `addr` (no -S) with `program` (little-endian
 * 32-bit instruction words) placed there by `-device loader`, lets it run, then migrates out
 * (QEMU stops the guest to complete the migration). Time-bounded like migrateOut.
 */
export async function runGuestAndMigrate(
  vm: VmSpec,
  program: number[],
  addr: number,
  dir: string,
  out: string,
  timeoutMs = 60000,
): Promise<string> {
  const prog = join(dir, `${vm.qemu?.version ?? '7.2'}-${vm.bin}-${vm.cpu}.prog.bin`);
  const words = Buffer.alloc(program.length * 4);
  program.forEach((w, i) => words.writeUInt32LE(w >>> 0, i * 4));
  writeFileSync(prog, words);
  const at = `0x${addr.toString(16)}`;
  const { child, log } = start(vm, [
    ...['-device', `loader,file=${prog},addr=${at},force-raw=on`],
    ...['-device', `loader,addr=${at},cpu-num=0`],
  ]);
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    await sleep(1500); // the guest runs
    child.stdin!.write(`migrate "exec:cat > ${out}.part && mv ${out}.part ${out}"\n`);
    const deadline = Date.now() + timeoutMs - 5000;
    while (!existsSync(out) && Date.now() < deadline && child.exitCode === null) await sleep(100);
    child.stdin!.write('quit\n');
    child.stdin!.end();
    if (!existsSync(out)) throw new Error(`QEMU did not migrate out:\n${log()}`);
    return log();
  } finally {
    await Promise.race([new Promise((r) => child.once('exit', r)), sleep(10000)]);
    clearTimeout(killer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
