import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Drives a paused `-M virt` QEMU through its HMP monitor on stdio; every run is time-bounded. */

export function qemuAvailable(bin = 'qemu-system-aarch64'): boolean {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10000 });
  return r.status === 0 && /QEMU emulator version/.test(r.stdout);
}

export interface VmSpec {
  bin: string;
  cpu: string;
  smp: number;
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

/**
 * Starts QEMU (optionally with `-incoming "exec:cat FROM"`), waits for the incoming load to finish,
 * migrates out to `out` (the exec command renames OUT.part once `cat` is done, so we poll for OUT),
 * then quits. If the incoming load fails, QEMU exits by itself; the log then holds its error.
 */
export async function migrateOut(vm: VmSpec, out: string, incoming?: string, timeoutMs = 60000): Promise<RunResult> {
  const args = [
    '-M',
    'virt',
    '-cpu',
    vm.cpu,
    '-smp',
    String(vm.smp),
    '-m',
    '64',
    '-display',
    'none',
    '-S',
    '-monitor',
    'stdio',
    '-nodefaults',
  ];
  if (incoming) args.push('-incoming', `exec:cat ${incoming}`);
  const child = spawn(vm.bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString('latin1')));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString('latin1')));
  child.stdin!.on('error', () => undefined); // QEMU may exit (failed load) before we write
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
          const states = [...log.matchAll(/VM status: ([^\r\n]*)/g)].map((m) => m[1]!);
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
    return { log, exitCode, migrated };
  } finally {
    clearTimeout(killer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
