/**
 * `cpreg` — QEMU migration streams from the command line (docs/cli.md).
 *
 *   cpreg inspect FILE.mig [--json]                         offline
 *   cpreg import FILE.mig --vm NAME [--accelerator tcg]     → POST /v1/qemu-streams/import
 *   cpreg rewrite FILE.mig --vm NAME -o OUT.mig             → POST /v1/qemu-streams/rewrite
 *   cpreg convert FILE.mig --to v23|v22 [-o OUT.mig|-]     offline (cli/convert.ts)
 *
 * Server: --server URL, else $CPREG_URL, else http://127.0.0.1:8080; token: --token, else
 * $CPREG_TOKEN. Errors: one line `cpreg: …` on stderr, exit 1; usage errors exit 2.
 */
import * as fs from 'fs';
import type * as http from 'http';
import type * as https from 'https';
import { inspectionView, vcpuIdOf } from '../api/stream-body';
import { registerName } from '../domain/names';
import { StreamReader, type StreamInfo } from '../domain/qemu-stream';
import { formatRegId } from '../domain/regid';
import { formatValue } from '../domain/values';
import { runConvert } from './convert';

const USAGE = `usage: cpreg <command> [options]

  cpreg inspect FILE.mig [--json]
      Read a QEMU migration stream offline: machine, page size, each vCPU's cpreg list.
  cpreg import FILE.mig --vm NAME [--accelerator tcg|kvm|hvf] [--json]
      Create, or load into, the vCPUs NAME.cpu<N> on the server.
  cpreg rewrite FILE.mig --vm NAME -o OUT.mig [--no-check]
      Write OUT.mig: FILE.mig with each vCPU's cpreg values replaced by the server's NAME.cpu<N>.
  cpreg convert FILE.mig --to v23|v22 [-o OUT.mig|-]
      Offline: FILE.mig with its cpu sections in the v23 or v22 cpreg layout (cpreg convert --help).

  --server URL   the cpreg-ledger server (default $CPREG_URL or http://127.0.0.1:8080)
  --token T      bearer token (default $CPREG_TOKEN)
  --quiet        no progress bar (shown on a terminal for files of 64 MiB and more)
  --progress     a progress bar even when stderr is not a terminal
  -h, --help     this text

Exit status: 0 ok, 1 error, 2 usage error.`;

class UsageError extends Error {}
class CliError extends Error {}

interface Options {
  command: string;
  file: string;
  json: boolean;
  vm?: string;
  accelerator?: string;
  out?: string;
  server: string;
  token?: string;
  check: boolean;
  /** Progress bar: auto (a terminal and a file ≥ 64 MiB), on (--progress), off (--quiet). */
  progress: 'auto' | 'on' | 'off';
}

function parseArgs(argv: string[], env: NodeJS.ProcessEnv): Options | 'help' {
  if (argv.length === 0) throw new UsageError('a command is required (inspect, import or rewrite)');
  if (argv.includes('-h') || argv.includes('--help') || argv[0] === 'help') return 'help';
  const [command, ...rest] = argv;
  if (!['inspect', 'import', 'rewrite'].includes(command!))
    throw new UsageError(`unknown command ${JSON.stringify(command)} (inspect, import or rewrite)`);
  const o: Options = {
    command: command!,
    file: '',
    json: false,
    server: env.CPREG_URL || 'http://127.0.0.1:8080',
    token: env.CPREG_TOKEN || undefined,
    check: true,
    progress: 'auto',
  };
  const files: string[] = [];
  const value = (i: number, flag: string): string => {
    const v = rest[i + 1];
    if (v === undefined || (v.startsWith('-') && v !== '-')) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const eq = /^(--[a-z-]+)=(.*)$/.exec(a);
    const flag = eq ? eq[1]! : a;
    const take = (): string => (eq ? eq[2]! : value(i++, flag));
    switch (flag) {
      case '--json':
        o.json = true;
        break;
      case '--quiet':
      case '-q':
        o.progress = 'off';
        break;
      case '--progress':
        o.progress = 'on';
        break;
      case '--no-check':
        o.check = false;
        break;
      case '--vm':
        o.vm = take();
        break;
      case '--accelerator':
        o.accelerator = take();
        break;
      case '-o':
      case '--output':
        o.out = take();
        break;
      case '--server':
        o.server = take();
        break;
      case '--token':
        o.token = take();
        break;
      default:
        if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`);
        files.push(a);
    }
  }
  if (files.length !== 1) throw new UsageError(`${command} takes exactly one FILE.mig`);
  o.file = files[0]!;
  if (o.command !== 'inspect') {
    if (!o.vm) throw new UsageError(`${command} needs --vm NAME`);
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,100}$/.test(o.vm))
      throw new UsageError('--vm must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,100}$');
    if (!/^https?:\/\//.test(o.server))
      throw new UsageError(`--server must be an http:// or https:// URL, got ${JSON.stringify(o.server)}`);
  }
  if (o.command === 'import' && o.accelerator && !['tcg', 'kvm', 'hvf'].includes(o.accelerator))
    throw new UsageError('--accelerator must be tcg, kvm or hvf');
  if (o.command === 'rewrite' && !o.out) throw new UsageError('rewrite needs -o OUT.mig');
  if (o.command !== 'import' && o.accelerator) throw new UsageError('--accelerator is for import');
  if (o.command !== 'rewrite' && o.out) throw new UsageError('-o is for rewrite');
  return o;
}

// ---------------------------------------------------------------- progress

const PROGRESS_MIN = 64 * 1024 * 1024;

/** A progress bar on stderr (only when it is a terminal and the file is large). */
class Progress {
  private last = 0;
  private readonly started = Date.now();
  private readonly on: boolean;
  constructor(
    private readonly total: number,
    private readonly label: string,
    mode: Options['progress'],
  ) {
    this.on = mode === 'on' || (mode === 'auto' && process.stderr.isTTY === true && total >= PROGRESS_MIN);
  }
  update(done: number): void {
    if (!this.on) return;
    const now = Date.now();
    if (now - this.last < 100 && done < this.total) return;
    this.last = now;
    const frac = this.total ? Math.min(1, done / this.total) : 1;
    const width = 30;
    const full = Math.round(frac * width);
    const secs = Math.max(0.001, (now - this.started) / 1000);
    const mb = (n: number) => (n / 1e6).toFixed(0);
    process.stderr.write(
      `\r${this.label} [${'#'.repeat(full)}${'-'.repeat(width - full)}] ${(frac * 100).toFixed(0).padStart(3)}% ${mb(done)}/${mb(this.total)} MB ${(done / 1e6 / secs).toFixed(0)} MB/s `,
    );
  }
  done(): void {
    if (this.on) process.stderr.write('\n');
  }
}

// ---------------------------------------------------------------- inspect (offline)

const READ_BUFFER = 128 * 1024;

/** Reads a stream file with one reused buffer (the fastest way Node has; see docs/qemu-streams.md). */
export function inspectFile(file: string, onProgress?: (done: number) => void): StreamInfo {
  const fd = openFile(file);
  try {
    const reader = new StreamReader();
    const buf = Buffer.allocUnsafe(READ_BUFFER);
    let done = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      reader.push(n === buf.length ? buf : buf.subarray(0, n));
      done += n;
      onProgress?.(done);
    }
    return reader.end();
  } finally {
    fs.closeSync(fd);
  }
}

function openFile(file: string): number {
  try {
    const fd = fs.openSync(file, 'r');
    if (!fs.fstatSync(fd).isFile()) {
      fs.closeSync(fd);
      throw new CliError(`${file}: not a regular file`);
    }
    return fd;
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(
      `${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    );
  }
}

function fileSize(file: string): number {
  const fd = openFile(file);
  try {
    return fs.fstatSync(fd).size;
  } finally {
    fs.closeSync(fd);
  }
}

function humanInspection(file: string, info: StreamInfo): string {
  const lines = [
    `${file}: ${info.totalBytes} bytes, machine ${info.machine ?? '(none)'}, page size ${info.pageSize}, ${info.cpus.length} vCPU${info.cpus.length === 1 ? '' : 's'}`,
  ];
  for (const c of info.cpus) {
    lines.push(
      `cpu ${c.instance}: ${c.n} registers (cpu section version ${c.version}, block at byte ${c.blockOffset})`,
    );
    const names = Array.from(c.indexes, (id) => registerName(id, 'tcg'));
    const w = Math.max(0, ...names.map((n) => n.length));
    c.indexes.forEach((id, i) =>
      lines.push(`  ${formatRegId(id)}  ${names[i]!.padEnd(w)}  ${formatValue(id, c.values[i]!)}`),
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- HTTP

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

async function requestOptions(
  o: Options,
  method: string,
  path: string,
  headers: Record<string, string | number>,
): Promise<{ mod: typeof http | typeof https; opts: http.RequestOptions }> {
  let url: URL;
  try {
    url = new URL(path, o.server.endsWith('/') ? o.server : o.server + '/');
  } catch {
    throw new UsageError(`--server ${JSON.stringify(o.server)} is not a URL`);
  }
  const h: Record<string, string | number> = { ...headers };
  if (o.token) h.authorization = `Bearer ${o.token}`;
  return {
    // loaded on demand: `cpreg inspect` never needs them, and starts faster without them
    mod: url.protocol === 'https:' ? await import('https') : await import('http'),
    opts: {
      method,
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || undefined,
      path: url.pathname + url.search,
      headers: h,
    },
  };
}

function connectionError(o: Options, e: Error): CliError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED')
    return new CliError(
      `cannot connect to ${o.server} (connection refused; is the server running? --server or CPREG_URL)`,
    );
  return new CliError(`${o.server}: ${e.message}`);
}

/** One problem+json (or any error answer) as one line. */
function problemLine(a: Answer): string {
  try {
    const p = JSON.parse(a.body.toString('utf8')) as { title?: string; detail?: string };
    if (p && typeof p.detail === 'string') return `${a.status} ${p.title ?? ''}: ${p.detail}`.replace(/\s+/g, ' ');
  } catch {
    /* not JSON */
  }
  return `the server answered ${a.status}${a.body.length ? `: ${a.body.toString('utf8').slice(0, 200).replace(/\s+/g, ' ')}` : ''}`;
}

async function getJson(o: Options, path: string): Promise<Answer> {
  const { mod, opts } = await requestOptions(o, 'GET', path, { accept: 'application/json' });
  return new Promise((resolve, reject) => {
    const req = mod.request(opts, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', (e) => reject(connectionError(o, e)));
    req.end();
  });
}

/**
 * POSTs the file as the body (Content-Length set, read as a stream). A 200 answer's body goes to
 * `sink` when given (else it is collected); anything else is collected for the error message.
 */
async function postFile(
  o: Options,
  path: string,
  file: string,
  label: string,
  sink?: fs.WriteStream,
): Promise<Answer & { received: number }> {
  const size = fileSize(file);
  const { mod, opts } = await requestOptions(o, 'POST', path, {
    'content-type': 'application/octet-stream',
    'content-length': size,
    accept: 'application/json, application/octet-stream',
  });
  const progress = new Progress(size, label, o.progress);
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      progress.done();
      reject(e);
    };
    let answered = false;
    const input = fs.createReadStream(file, { highWaterMark: 1024 * 1024 });
    const req = mod.request(opts, (res) => {
      const status = res.statusCode ?? 0;
      answered = true;
      if (status !== 200) {
        // A refusal can come before the upload is done: stop sending, read the problem.
        input.unpipe(req);
        input.destroy();
      }
      const parts: Buffer[] = [];
      let received = 0;
      const toSink = status === 200 && sink !== undefined;
      res.on('data', (d: Buffer) => {
        received += d.length;
        if (toSink) {
          if (!sink!.write(d)) {
            res.pause();
            sink!.once('drain', () => res.resume());
          }
        } else parts.push(d);
      });
      res.on('aborted', () =>
        fail(
          new CliError(
            `the server aborted the answer after ${received} bytes (request id ${res.headers['x-request-id'] ?? '?'}; its log has the reason)`,
          ),
        ),
      );
      res.on('error', (e) =>
        fail(
          new CliError(
            `the server aborted the answer after ${received} bytes (${e.message}; request id ${res.headers['x-request-id'] ?? '?'}; its log has the reason)`,
          ),
        ),
      );
      res.on('end', () => {
        if (settled) return;
        settled = true;
        progress.done();
        if (status !== 200) req.destroy();
        resolve({ status, headers: res.headers, body: Buffer.concat(parts), received });
      });
    });
    // Once an answer has come, a failed write (the server closed after refusing) is not the story.
    req.on('error', (e) => {
      if (!answered) fail(connectionError(o, e));
    });
    let sent = 0;
    input.on('data', (d) => {
      sent += d.length;
      progress.update(sent);
    });
    input.on('error', (e) => {
      req.destroy();
      fail(new CliError(`${file}: ${e.message}`));
    });
    input.pipe(req);
  });
}

// ---------------------------------------------------------------- commands

async function cmdImport(o: Options, out: (s: string) => void): Promise<void> {
  const q = new URLSearchParams({ vm: o.vm! });
  if (o.accelerator) q.set('accelerator', o.accelerator);
  const a = await postFile(o, `v1/qemu-streams/import?${q}`, o.file, 'import');
  if (a.status !== 200) throw new CliError(problemLine(a));
  const report = JSON.parse(a.body.toString('utf8')) as {
    vm: string;
    cpus: Array<{
      instance: number;
      id: string;
      action: string;
      version: number;
      report?: { changed: Array<{ name: string; value: string }>; warnings: Array<{ name: string; message: string }> };
    }>;
  };
  if (o.json) return out(JSON.stringify(report, null, 2));
  for (const c of report.cpus) {
    let line = `${c.id}: ${c.action}, version ${c.version}`;
    if (c.report)
      line += `, ${c.report.changed.length} register${c.report.changed.length === 1 ? '' : 's'} changed${c.report.changed.length ? ` (${c.report.changed.map((x) => `${x.name}=${x.value}`).join(', ')})` : ''}`;
    out(line);
    for (const w of c.report?.warnings ?? []) out(`  warning: ${w.name}: ${w.message}`);
  }
}

/** The pre-check of a rewrite: every vCPU exists with exactly the stream's list (clear message before uploading). */
async function checkRewrite(o: Options, info: StreamInfo): Promise<void> {
  for (const c of info.cpus) {
    const id = vcpuIdOf(o.vm!, c.instance);
    const a = await getJson(o, `v1/cpus/${encodeURIComponent(id)}/arrays`);
    if (a.status === 404)
      throw new CliError(`no vCPU ${id} on the server for the stream's cpu ${c.instance} (import the stream first)`);
    if (a.status !== 200) throw new CliError(problemLine(a));
    const arrays = JSON.parse(a.body.toString('utf8')) as { cpregIndexes: string[] };
    const mine = arrays.cpregIndexes;
    const theirs = Array.from(c.indexes, formatRegId);
    if (mine.length !== theirs.length || mine.some((x, i) => x !== theirs[i])) {
      const inVcpu = new Set(mine);
      const inStream = new Set(theirs);
      const onlyStream = theirs.filter((x) => !inVcpu.has(x));
      const onlyVcpu = mine.filter((x) => !inStream.has(x));
      const show = (l: string[]) =>
        l
          .slice(0, 8)
          .map((x) => `${registerName(BigInt(x), 'tcg')} ${x}`)
          .join(', ') + (l.length > 8 ? ` and ${l.length - 8} more` : '');
      const parts = [];
      if (onlyStream.length) parts.push(`only in the stream: ${show(onlyStream)}`);
      if (onlyVcpu.length) parts.push(`only in ${id}: ${show(onlyVcpu)}`);
      throw new CliError(
        `the register list of ${id} (${mine.length}) differs from the stream's cpu ${c.instance} (${theirs.length})${parts.length ? ': ' + parts.join('; ') : ''}`,
      );
    }
  }
}

async function cmdRewrite(o: Options, out: (s: string) => void): Promise<void> {
  const size = fileSize(o.file);
  if (o.check) {
    const p = new Progress(size, 'check  ', o.progress);
    const info = inspectFile(o.file, (d) => p.update(d));
    p.done();
    await checkRewrite(o, info);
  }
  const target = o.out!;
  const part = `${target}.part`;
  const sink = fs.createWriteStream(part);
  const opened = new Promise<void>((resolve, reject) => {
    sink.once('open', () => resolve());
    sink.once('error', (e) => reject(new CliError(`${target}: ${e.message}`)));
  });
  await opened;
  try {
    const a = await postFile(
      o,
      `v1/qemu-streams/rewrite?${new URLSearchParams({ vm: o.vm! })}`,
      o.file,
      'rewrite',
      sink,
    );
    await new Promise<void>((resolve, reject) =>
      sink.end((e?: Error | null) => (e ? reject(new CliError(`${target}: ${e.message}`)) : resolve())),
    );
    if (a.status !== 200) throw new CliError(problemLine(a));
    if (a.received !== size) throw new CliError(`the server answered ${a.received} bytes for a ${size}-byte stream`);
    fs.renameSync(part, target);
  } catch (e) {
    sink.destroy();
    fs.rmSync(part, { force: true });
    throw e;
  }
  out(`${target}: ${size} bytes, cpreg values of ${o.vm}.cpu<N> written in`);
}

/** Runs the CLI; returns the exit status. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const out = (s: string) => process.stdout.write(s + '\n');
  // `cpreg inspect big.mig | head`: a closed stdout is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
  try {
    if (argv[0] === 'convert') return await runConvert(argv.slice(1));
    const o = parseArgs(argv, env);
    if (o === 'help') {
      out(USAGE);
      return 0;
    }
    if (o.command === 'inspect') {
      const p = new Progress(fileSize(o.file), 'inspect', o.progress);
      const info = inspectFile(o.file, (d) => p.update(d));
      p.done();
      out(o.json ? JSON.stringify(inspectionView(info), null, 2) : humanInspection(o.file, info));
    } else if (o.command === 'import') await cmdImport(o, out);
    else await cmdRewrite(o, out);
    return 0;
  } catch (e) {
    const usage = e instanceof UsageError;
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`cpreg: ${msg.replace(/\s*\n\s*/g, ' ')}${usage ? ' (cpreg --help)' : ''}\n`);
    return usage ? 2 : 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
