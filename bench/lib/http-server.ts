import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { httpRequest } from './http-client';

/** Spawns a compiled server entry (cpreg-ledger's api/main.js, or a bare one) and waits until /healthz answers. */

export interface SpawnedServer {
  child: ChildProcess;
  port: number;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The tail of what it wrote to stderr (for failure messages). */
  stderr: () => string;
}

export interface SpawnOptions {
  entry: string;
  /** Default: a free port. */
  port?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** argv before `node` (e.g. strace -f -c …). */
  wrapper?: string[];
  nodeArgs?: string[];
  startTimeoutMs?: number;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export async function spawnServer(o: SpawnOptions): Promise<SpawnedServer> {
  const port = o.port ?? (await freePort());
  const argv = [...(o.wrapper ?? []), process.execPath, ...(o.nodeArgs ?? []), o.entry];
  // argv is never empty: it holds process.execPath and the entry at least
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: o.cwd,
    env: { ...process.env, ...o.env, PORT: String(port), HOST: '127.0.0.1' },
    // stdout (one log line per request) is not needed: readiness is polled on /healthz
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-20_000)));
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve((exit = { code, signal }))),
  );
  const deadline = Date.now() + (o.startTimeoutMs ?? 15_000);
  for (;;) {
    if (exit)
      throw new Error(
        `${path.basename(o.entry)} exited (${exit.code ?? exit.signal}) before listening; stderr: ${err}`,
      );
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${path.basename(o.entry)} did not answer /healthz in time; stderr: ${err}`);
    }
    try {
      const r = await httpRequest({ host: '127.0.0.1', port }, { method: 'GET', path: '/healthz', timeoutMs: 1000 });
      if (r.status === 200) return { child, port, exited, stderr: () => err };
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 30));
  }
}
