import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { hashToken } from '../../api/auth';
import { configFromEnv } from '../../api/config';
import { createLogger } from '../../api/logging';
import { startServer, type RunningServer } from '../../api/server';
import { stream } from '../domain/qemu-stream/helpers';
import { runCpreg, type CliRun } from '../helpers/cli';

/**
 * The README story performed by `cpreg` alone (no curl): the built bin against a started server,
 * every step's output checked, `-` for stdin and stdout, `--json`, the exit codes, the token from
 * CPREG_TOKEN, `events --follow` resumed after a cut connection, and a lazy start for `inspect`.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin/cpreg.js');
const KVM_LIST = [
  '0x6030000000100000',
  '0x6080000000150000',
  '0x603000000013c080',
  '0x603000000013de82',
  '0x603000000013df1a',
  '0x6020000000110000',
  '0x6030000000140000',
  '0x6080000000140100',
];

let dir = '';
let server: RunningServer;
let env: Record<string, string>;
/** Sockets of event-stream subscribers, so a test can cut them. */
const feeds = new Set<import('node:net').Socket>();

beforeAll(async () => {
  try {
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 180000 });
  } catch (e) {
    // tsc emits even with type errors (others may be mid-edit); only a missing CLI is fatal
    if (!fs.existsSync(path.join(ROOT, 'dist/cli/cpreg.js'))) throw e;
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-story-'));
  server = await startServer(
    configFromEnv({ PORT: '0', HOST: '127.0.0.1', CPREG_DB: path.join(dir, 'db', 'cpreg.db') }),
    createLogger('silent'),
  );
  server.server.on('request', (req) => {
    if (/text\/event-stream/.test(req.headers.accept ?? '')) {
      feeds.add(req.socket);
      req.socket.once('close', () => feeds.delete(req.socket));
    }
  });
  env = { CPREG_URL: server.url };
}, 240000);

afterAll(async () => {
  await server?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const cpreg = (args: string[], e: Record<string, string> = env) => runCpreg(args, e);

/** Exit 0, nothing on stderr; the stdout. */
async function ok(args: string[], e: Record<string, string> = env): Promise<string> {
  const r = await cpreg(args, e);
  if (r.code !== 0 || r.stderr !== '') throw new Error(`cpreg ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  return r.stdout;
}

/** A refusal: exit 1 and exactly one line on stderr. */
function refused(r: CliRun, line: RegExp): void {
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(line);
  expect(r.stderr.split('\n')).toHaveLength(2);
}

/** A loopback port nobody listens on (fetch refuses "bad ports" such as 1 outright). */
async function closedPort(): Promise<number> {
  const net = await import('node:net');
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as import('node:net').AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Runs the bin with stdin from `input` and stdout into `output` (binary-safe). */
function piped(args: string[], input?: string, output?: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const stdin = input ? fs.openSync(input, 'r') : 'ignore';
    const stdout = output ? fs.openSync(output, 'w') : 'ignore';
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, CPREG_TOKEN: '', ...env },
      stdio: [stdin, stdout, 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('close', (code) => {
      clearTimeout(timer);
      for (const fd of [stdin, stdout]) if (typeof fd === 'number') fs.closeSync(fd);
      resolve({ code, stderr });
    });
  });
}

test('the README story, by cpreg alone', async () => {
  const registerArgs = KVM_LIST.flatMap((id) => ['--register', id]);
  const created = await ok(['create', 'vm1.cpu0', '--accelerator', 'kvm', '--label', 'vm=vm1', ...registerArgs]);
  expect(created.split('\n')[0]).toBe('vm1.cpu0: created, kvm, version 1, 6 registers (37 value slots), labels vm=vm1');
  expect(created).toMatch(/0x603000000013de82 {2}TPIDR_EL0 +8B +1 +0x0000000000000000/);
  expect(created).toMatch(/0x6080000000140100 .* 256B +32 +0x0{512}\n/);

  // a conditional, idempotent write by name; the repeat answers the same
  const write = ['set', 'vm1.cpu0', 'TPIDR_EL0=0x0000ffff8000a000', '--if-match', '1', '--idempotency-key', 'demo-1'];
  expect(await ok(write)).toBe('vm1.cpu0: version 2\n  TPIDR_EL0  0x0000ffff8000a000\n');
  expect(await ok(write)).toBe('vm1.cpu0: version 2\n  TPIDR_EL0  0x0000ffff8000a000\n');
  // two at once, by name and by id (one PATCH)
  expect(await ok(['set', 'vm1.cpu0', 'SCTLR_EL1=0x30d00800', '0x6080000000140100=0x1'])).toMatch(
    /^vm1\.cpu0: version 3\n {2}SCTLR_EL1 +0x0000000030d00800\n/,
  );
  // a write against a stale version: 412, one line
  refused(
    await cpreg(['set', 'vm1.cpu0', 'TPIDR_EL0=0x1', '--if-match', '1']),
    /^cpreg: 412 Precondition failed: .*\n$/,
  );

  // syncs
  expect(await ok(['sync', 'vm1.cpu0', 'from-accelerator', 'TIMER_CNT=0x5f5e100', '--failed', 'PSCI_VERSION'])).toMatch(
    /^vm1\.cpu0: version 4, 1 reported, 1 changed, 1 failed .*\n {2}TIMER_CNT +0x0000000005f5e100\n$/,
  );
  const back = JSON.parse(await ok(['sync', 'vm1.cpu0', 'to-accelerator', '--level', 'runtime', '--json']));
  expect(back.direction).toBe('to-accelerator');
  expect(back.write.map((w: { name: string }) => w.name)).not.toContain('TIMER_CNT');

  // export v23 to a file; v22 is refused with the register named
  const blob = path.join(dir, 'vm1.cpu0.v23');
  expect(await ok(['export', 'vm1.cpu0', '--format', 'v23', '-o', blob])).toMatch(
    new RegExp(
      `^${blob.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\d+ bytes, v23 blob of vm1\\.cpu0 at version 6, sha256 [0-9a-f]{64}\\n$`,
    ),
  );
  refused(
    await cpreg(['export', 'vm1.cpu0', '--format', 'v22', '-o', path.join(dir, 'never.v22')]),
    /^cpreg: 409 .*0x6080000000140100\n$/,
  );
  expect(fs.existsSync(path.join(dir, 'never.v22'))).toBe(false);
  expect(fs.existsSync(path.join(dir, 'never.v22.part'))).toBe(false);

  // a second vCPU with the same list; the pre-flight from stdin records nothing; the load
  await ok(['create', 'vm2.cpu0', '--accelerator', 'kvm', ...KVM_LIST.slice(2).flatMap((id) => ['--register', id])]);
  const checkOut = path.join(dir, 'check.json');
  const check = await piped(['load', 'vm2.cpu0', '-', '--format', 'v23', '--check', '--json'], blob, checkOut);
  expect(check).toEqual({ code: 0, stderr: '' });
  expect(JSON.parse(fs.readFileSync(checkOut, 'utf8')).dryRun).toBe(true);
  const loaded = await ok(['load', 'vm2.cpu0', blob, '--format', 'v23']);
  expect(loaded).toMatch(/^vm2\.cpu0: loaded a v23 blob, version 2: 6 updated, \d+ changed, 0 kept\n/);
  expect(loaded).toMatch(/changed TPIDR_EL0 = 0x0000ffff8000a000/);

  // export to stdout, piped into a load: the same bytes
  const again = path.join(dir, 'again.v23');
  expect(await piped(['export', 'vm1.cpu0', '--format', 'v23'], undefined, again)).toEqual({ code: 0, stderr: '' });
  expect(fs.readFileSync(again)).toEqual(fs.readFileSync(blob));

  // history, an earlier version, the arrays, a diff
  const history = (await ok(['history', 'vm1.cpu0'])).trimEnd().split('\n');
  expect(history[0]).toMatch(/^VERSION +TIME +TYPE +ACTOR +CORRELATION +WHAT$/);
  expect(history.slice(1).map((l) => l.split(/ +/)[2])).toEqual([
    'VcpuCreated',
    'RegistersWritten',
    'RegistersWritten',
    'SyncedFromAccelerator',
    'SyncedToAccelerator',
    'BlobExported', // the second export, of the same blob, is not recorded again
  ]);
  expect(history[2]).toMatch(/ anonymous +[0-9a-f-]{36} +TPIDR_EL0=0x0000ffff8000a000$/);
  const jsonLines = (await ok(['history', 'vm1.cpu0', '--json', '--limit', '2'])).trimEnd().split('\n');
  expect(jsonLines.map((l) => JSON.parse(l).version)).toEqual([1, 2]);
  const v2 = JSON.parse(await ok(['get', 'vm1.cpu0', '--version', '2', '--json']));
  expect(v2.version).toBe(2);
  expect(v2.registers.find((r: { name: string }) => r.name === 'SCTLR_EL1').value).toBe('0x0000000000000000');
  expect(await ok(['get', 'vm1.cpu0', '--grep', 'tpidr'])).toMatch(
    /^vm1\.cpu0: kvm, version 6, .*\n {2}0x603000000013de82 {2}TPIDR_EL0 +8B +1 +0x0000ffff8000a000\n {2}1 of 6 registers match "tpidr"\n$/,
  );
  const arrays = JSON.parse(await ok(['get', 'vm1.cpu0', '--arrays', '--json']));
  expect([arrays.cpregIndexes.length, arrays.cpregValues.length]).toEqual([6, 37]);
  expect(await ok(['diff', 'vm2.cpu0', '--from', '1', '--to', '2'])).toMatch(
    /\n {2}TPIDR_EL0: 0x0000000000000000 → 0x0000ffff8000a000\n/,
  );

  // the feed and the chain
  const feed = (await ok(['events', '--after', '0', '--json']))
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(feed.map((e) => e.position)).toEqual(feed.map((_, i) => i + 1));
  expect(await ok(['verify'])).toBe(`the hash chain holds: ${feed.length} events, head hash ${feed.at(-1).hash}\n`);

  // a refusal names the register
  refused(
    await cpreg(['set', 'vm1.cpu0', 'TPIDR_EL0=0x1', '0x6030000000100000=0x2']),
    /^cpreg: 422 .*0x6030000000100000\n$/,
  );

  // a host profile, listed by label
  await ok([
    'profile',
    'put',
    'rack1-a57',
    '--accelerator',
    'tcg',
    '--qemu',
    '10.0',
    '--cpu-model',
    'cortex-a57',
    '--label',
    'rack=r1',
    '--value',
    '0x603000000013c000=0x411fd070',
    '--value',
    '0x603000000013de82=0x0',
  ]);
  const profiles = (await ok(['profile', 'list', '--label', 'rack=r1'])).trimEnd().split('\n');
  expect(profiles).toHaveLength(2);
  expect(profiles[1]).toMatch(/^rack1-a57 +1 +tcg +10\.0 +cortex-a57 +- +2 +rack=r1$/);
  expect(await ok(['profile', 'list', '--label', 'rack=r2'])).toMatch(/^ID .*\n$/);
});

/** The `cpreg` lines of the README's "The same story with `cpreg`" (a trailing `# exit N` names the status). */
function readmeCpregLines(): Array<{ line: string; exit: number }> {
  const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = text.split('\n## ').find((s) => s.startsWith('The same story with `cpreg`'));
  if (!section) throw new Error('README: no section "The same story with `cpreg`"');
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  return block
    .split('\n')
    .filter((l) => l.startsWith('cpreg '))
    .map((l) => {
      const m = /\s+#\s*exit (\d+)\b.*$/.exec(l) ?? /\s+#.*$/.exec(l);
      const exit = m && /exit (\d+)/.test(m[0]) ? Number(/exit (\d+)/.exec(m[0])![1]) : 0;
      return { line: m ? l.slice(0, m.index) : l, exit };
    });
}

test("every cpreg line of the README's story runs as it says, on a fresh server", async () => {
  const lines = readmeCpregLines();
  expect(lines.length).toBeGreaterThanOrEqual(18);
  const fresh = await startServer(
    configFromEnv({ PORT: '0', HOST: '127.0.0.1', CPREG_DB: path.join(dir, 'db-readme', 'cpreg.db') }),
    createLogger('silent'),
  );
  const work = fs.mkdtempSync(path.join(dir, 'readme-'));
  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'cpreg'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, { mode: 0o755 });
  try {
    for (const { line, exit } of lines) {
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn('bash', ['-c', line], {
          cwd: work,
          env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, CPREG_URL: fresh.url, CPREG_TOKEN: '' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
      expect({ line, code: r.code, stderr: exit ? r.stderr.split('\n').length : r.stderr }).toEqual({
        line,
        code: exit,
        stderr: exit ? 2 : '',
      });
    }
    const vm2 = JSON.parse(await ok(['get', 'vm2.cpu0', '--json'], { CPREG_URL: fresh.url }));
    const value = (id: string) => vm2.registers.find((r: { id: string }) => r.id === id).value;
    expect(value('0x603000000013de82')).toBe('0x0000ffff8000a000');
    expect(value('0x603000000013df1a')).toBe('0x0000000005f5e100');
    expect(value('0x6080000000140100')).toBe('0x' + '0'.repeat(511) + '1');
  } finally {
    await fresh.close();
  }
});

test('compat: the matrix as a table and as JSON', async () => {
  const a57 = path.join(dir, 'a57.mig');
  fs.writeFileSync(a57, stream('aarch64-cortex-a57'));
  await ok(['import', a57, '--vm', 'web1']);
  await ok(['profile', 'put', 'q72-a57', '--from', a57, '--qemu', '7.2', '--cpu-model', 'cortex-a57']);
  const m = JSON.parse(await ok(['compat', '--cpu', 'web1.cpu0', '--profile', 'q72-a57', '--json']));
  expect(m.cpus).toEqual(['web1.cpu0']);
  expect(m.pairs).toHaveLength(1);
  expect(m.pairs[0].verdict).toBe('accepted');
  const t = (await ok(['compat', '--cpu', 'web1.cpu0', '--profile', 'q72-a57', '--profile', 'rack1-a57']))
    .trimEnd()
    .split('\n');
  expect(t[0]).toMatch(/^VCPU \\ PROFILE +q72-a57 +rack1-a57$/);
  expect(t[1]).toMatch(/^web1\.cpu0 +ok(!\d+)? +REFUSED$/);
  expect(t).toContain('web1.cpu0 → rack1-a57: refused');
  const one = JSON.parse(await ok(['compat', 'web1.cpu0', '--json']));
  expect(one.cpus).toEqual(['web1.cpu0']);
});

test('--json on the stream commands too: inspect, import, rewrite, convert', async () => {
  const mig = path.join(dir, 'json.mig');
  fs.writeFileSync(mig, stream('aarch64-max-smp2'));
  expect(JSON.parse(await ok(['inspect', mig, '--json'])).cpus).toHaveLength(2);
  const imported = JSON.parse(await ok(['import', mig, '--vm', 'jsonvm', '--json']));
  expect(imported.cpus.map((c: { id: string }) => c.id)).toEqual(['jsonvm.cpu0', 'jsonvm.cpu1']);
  const out = path.join(dir, 'json-out.mig');
  expect(JSON.parse(await ok(['rewrite', mig, '--vm', 'jsonvm', '-o', out, '--json']))).toEqual({
    file: out,
    bytes: fs.statSync(mig).size,
    vm: 'jsonvm',
  });
  const v23 = path.join(dir, 'json-v23.mig');
  expect(JSON.parse(await ok(['convert', mig, '--to', 'v23', '-o', v23, '--json']))).toMatchObject({
    file: v23,
    to: 'v23',
    converted: 2,
    cpus: 2,
    bytesIn: fs.statSync(mig).size,
    bytesOut: fs.statSync(v23).size,
  });
});

test('events --follow: live, resumed after a cut connection, --count stops it', async () => {
  const head = (await ok(['events', '--json']))
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
  const start = head.at(-1).position as number;
  const child = spawn(
    process.execPath,
    [BIN, 'events', '--follow', '--after', String(start), '--count', '4', '--json'],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
  try {
    const lines = () => stdout.split('\n').filter(Boolean).length;
    const until = async (n: number, what: () => boolean) => {
      for (let i = 0; i < 400 && !what(); i++) await new Promise((r) => setTimeout(r, 25));
      expect(what()).toBe(true);
      return n;
    };
    await until(0, () => feeds.size === 1);
    await ok(['set', 'vm1.cpu0', 'TPIDR_EL0=0x10']);
    await ok(['set', 'vm1.cpu0', 'TPIDR_EL0=0x11']);
    await until(2, () => lines() === 2);
    feeds.forEach((s) => s.destroy());
    await ok(['set', 'vm1.cpu0', 'TPIDR_EL0=0x12']);
    await ok(['set', 'vm1.cpu0', 'TPIDR_EL0=0x13']);
    expect(await exited).toBe(0);
  } finally {
    clearTimeout(timer);
    child.kill('SIGKILL');
  }
  const events = stdout
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(events.map((e) => e.position)).toEqual([start + 1, start + 2, start + 3, start + 4]);
  expect(events.map((e) => e.data.values[0])).toEqual([
    '0x0000000000000010',
    '0x0000000000000011',
    '0x0000000000000012',
    '0x0000000000000013',
  ]);
  expect(stderr).toMatch(new RegExp(`^cpreg: the feed was cut \\(.*\\); resuming after ${start + 2}\\n$`));
});

test('the token from CPREG_TOKEN; refusals and usage errors: one line, exit 1 or 2', async () => {
  const tokens = path.join(dir, 'tokens.json');
  fs.writeFileSync(tokens, JSON.stringify([{ name: 'ops', role: 'write', sha256: hashToken('s3cret') }]));
  const locked = await startServer(
    configFromEnv({
      PORT: '0',
      HOST: '127.0.0.1',
      CPREG_DB: path.join(dir, 'db-auth', 'cpreg.db'),
      CPREG_TOKENS_FILE: tokens,
    }),
    createLogger('silent'),
  );
  try {
    refused(await cpreg(['list'], { CPREG_URL: locked.url }), /^cpreg: 401 Unauthorized: .*\n$/);
    expect(
      await ok(['create', 'a.cpu0', '--accelerator', 'hvf'], { CPREG_URL: locked.url, CPREG_TOKEN: 's3cret' }),
    ).toMatch(/^a\.cpu0: created, hvf, version 1/);
    expect(await ok(['list', '--url', locked.url, '--token', 's3cret'], {})).toMatch(/\na\.cpu0 +hvf +1 +- +-\n$/);
    const history = await ok(['history', 'a.cpu0', '--json'], { CPREG_URL: locked.url, CPREG_TOKEN: 's3cret' });
    expect(JSON.parse(history).metadata.actor).toBe('ops');
  } finally {
    await locked.close();
  }
  refused(await cpreg(['get', 'nosuch.cpu0']), /^cpreg: 404 Not found: .*\n$/);
  const closed = await closedPort();
  refused(
    await cpreg(['list'], { CPREG_URL: `http://127.0.0.1:${closed}` }),
    new RegExp(`^cpreg: cannot connect to http://127\\.0\\.0\\.1:${closed} \\(connection refused.*\\n$`),
  );
  for (const [args, hint] of [
    [['get'], 'cpreg get --help'],
    [['set', 'vm1.cpu0', 'TPIDR_EL0'], 'cpreg set --help'],
    [['get', 'vm1.cpu0', '--version', 'x'], 'cpreg get --help'],
    [['diff', 'vm1.cpu0'], 'cpreg diff --help'],
    [['export', 'vm1.cpu0', '--format', 'v21'], 'cpreg export --help'],
    [['sync', 'vm1.cpu0', 'sideways'], 'cpreg sync --help'],
    [['profile'], 'cpreg profile --help'],
    [['list', '--url', 'ftp://x'], 'cpreg list --help'],
  ] as Array<[string[], string]>) {
    const r = await cpreg(args);
    expect({ args, code: r.code }).toEqual({ args, code: 2 });
    expect(r.stderr).toMatch(new RegExp(`^cpreg: .+ \\(${hint.replace(/ /g, ' ')}\\)\\n$`));
  }
  const version = await ok(['--version']);
  expect(version).toBe(`${JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version}\n`);
  expect(await ok(['get', '--help'])).toMatch(/^usage: cpreg get ID/);
});

test('start-up is lazy: inspect loads no HTTP code, no client, no progress bar', async () => {
  const mig = path.join(dir, 'max.mig');
  fs.writeFileSync(mig, stream('aarch64-max-smp2'));
  const trace = path.join(dir, 'trace.js');
  const loaded = path.join(dir, 'loaded.txt');
  fs.writeFileSync(
    trace,
    `const M = require('module'); const seen = new Set(); const load = M._load;
     M._load = function (req, ...rest) { seen.add(req); return load.call(this, req, ...rest); };
     process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(loaded)}, [...seen].join('\\n')));`,
  );
  execFileSync(process.execPath, ['--require', trace, BIN, 'inspect', mig], { stdio: 'ignore' });
  const modules = fs.readFileSync(loaded, 'utf8').split('\n');
  expect(modules).toContain('commander');
  for (const m of ['http', 'https', 'node:http', 'express', 'openapi-fetch', 'cli-progress', '../client'])
    expect({ m, loaded: modules.includes(m) }).toEqual({ m, loaded: false });
  expect(modules.filter((m) => /api\/|\.\/app|\/storage/.test(m) && !/stream-body/.test(m))).toEqual([]);
});
