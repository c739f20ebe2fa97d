import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import request from 'supertest';
import { configFromEnv } from '../../api/config';
import { createLogger } from '../../api/logging';
import { startServer, type RunningServer } from '../../api/server';
import { readStream } from '../../domain/qemu-stream';
import { stream } from '../domain/qemu-stream/helpers';
import { runCpreg } from '../helpers/cli';

/** The `cpreg` bin as users run it: built once (npm run build), then spawned. */

const ROOT = path.resolve(__dirname, '..', '..');
const TPIDR_EL0 = 0x603000000013de82n;

const cpreg = runCpreg;

let dir = '';
let mig = '';
let server: RunningServer;

beforeAll(async () => {
  try {
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 120000 });
  } catch (e) {
    // tsc emits even with type errors (others may be mid-edit); only a missing CLI is fatal
    if (!fs.existsSync(path.join(ROOT, 'dist/cli/cpreg.js'))) throw e;
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-cli-'));
  mig = path.join(dir, 'max.mig');
  fs.writeFileSync(mig, stream('aarch64-max-smp2'));
  server = await startServer(
    configFromEnv({ PORT: '0', HOST: '127.0.0.1', CPREG_DB: path.join(dir, 'db', 'cpreg.db') }),
    createLogger('silent'),
  );
}, 180000);

afterAll(async () => {
  await server?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('offline', () => {
  test('inspect prints a summary with named registers', async () => {
    const r = await cpreg(['inspect', mig]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`${mig}: 516571 bytes, machine virt-7.2, page size 4096, 2 vCPUs`);
    expect(lines).toContain('cpu 1: 304 registers (cpu section version 22, block at byte 478699)');
    expect(r.stdout).toMatch(/0x603000000013de82 {2}TPIDR_EL0 +0x0000000000000000/);
  });

  test('inspect --json is the API answer', async () => {
    const r = await cpreg(['inspect', '--json', mig]);
    expect(r.code).toBe(0);
    const cli = JSON.parse(r.stdout);
    const api = await request(server.url)
      .post('/v1/qemu-streams/inspect')
      .set('content-type', 'application/octet-stream')
      .send(fs.readFileSync(mig));
    expect(api.status).toBe(200);
    expect(cli).toEqual(api.body);
  });

  test('a bad file: exit 1 and one line', async () => {
    const bad = path.join(dir, 'bad.mig');
    fs.writeFileSync(bad, stream('aarch64-max-smp2').subarray(0, 5000));
    for (const f of [bad, path.join(dir, 'missing.mig'), dir]) {
      const r = await cpreg(['inspect', f]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^cpreg: .+\n$/);
      expect(r.stderr.split('\n')).toHaveLength(2);
    }
    expect((await cpreg(['inspect', bad])).stderr).toMatch(/^cpreg: at byte \d+: /);
  });

  test('--progress: a progress bar on stderr (by default only on a terminal, for files ≥ 64 MiB)', async () => {
    const r = await cpreg(['inspect', '--progress', '--json', mig]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /^\rinspect \[[#-]{30}\] .*\rinspect \[#{30}\] 100% 1\/1 MB \d+ MB\/s \n$|^\rinspect \[#{30}\] 100% 1\/1 MB \d+ MB\/s \n$/s,
    );
    expect(JSON.parse(r.stdout).cpus).toHaveLength(2);
    expect((await cpreg(['inspect', '--json', mig])).stderr).toBe('');
  });

  test('usage errors: exit 2; --help: exit 0', async () => {
    for (const args of [
      [],
      ['frob'],
      ['inspect'],
      ['inspect', mig, '--bogus'],
      ['import', mig],
      ['rewrite', mig, '--vm', 'v'],
      ['import', mig, '--vm', 'v', '--accelerator', 'xen'],
    ]) {
      const r = await cpreg(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^cpreg: .+\(cpreg --help\)\n$/);
    }
    const h = await cpreg(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^usage: cpreg/);
  });
});

describe('against a server', () => {
  test('import creates, a second import loads; rewrite writes the server values into OUT', async () => {
    const env = { CPREG_URL: server.url };
    const a = await cpreg(['import', mig, '--vm', 'clivm'], env);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    expect(a.stdout).toBe('clivm.cpu0: created, version 1\nclivm.cpu1: created, version 1\n');
    await request(server.url)
      .put('/v1/cpus/clivm.cpu1/registers/TPIDR_EL0')
      .set('content-type', 'application/json')
      .send({ value: '0xfeedf00d' })
      .expect(200);

    const out = path.join(dir, 'out.mig');
    const w = await cpreg(['rewrite', mig, '--vm', 'clivm', '-o', out, '--server', server.url]);
    expect(w.stderr).toBe('');
    expect(w.code).toBe(0);
    const after = readStream([fs.readFileSync(out)]);
    const cpu1 = after.cpus[1]!;
    expect(cpu1.values[cpu1.indexes.indexOf(TPIDR_EL0)]).toBe(0xfeedf00dn);
    expect(fs.existsSync(out + '.part')).toBe(false);

    const b = await cpreg(['import', out, '--vm', 'clivm', '--json'], env);
    expect(b.code).toBe(0);
    const report = JSON.parse(b.stdout);
    expect(report.cpus.map((c: { action: string }) => c.action)).toEqual(['loaded', 'loaded']);
    expect(report.cpus[1].report.changed).toEqual([]);
  });

  test('rewrite refusals: missing vCPU, different list — exit 1, one line, no output file', async () => {
    const out = path.join(dir, 'never.mig');
    const env = { CPREG_URL: server.url };
    const missing = await cpreg(['rewrite', mig, '--vm', 'nosuch', '-o', out], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^cpreg: no vCPU nosuch\.cpu0 on the server.*\n$/);
    // without the client-side check the server's 404 is the message
    const unchecked = await cpreg(['rewrite', mig, '--vm', 'nosuch', '-o', out, '--no-check'], env);
    expect(unchecked.code).toBe(1);
    expect(unchecked.stderr).toMatch(/^cpreg: 404 Not found: no vCPU "nosuch\.cpu0"/);
    // a VM made of a cortex-a57 stream: the lists differ
    const a57 = path.join(dir, 'a57.mig');
    fs.writeFileSync(a57, stream('aarch64-cortex-a57'));
    expect((await cpreg(['import', a57, '--vm', 'a57'], env)).code).toBe(0);
    const differs = await cpreg(['rewrite', mig, '--vm', 'a57', '-o', out], env);
    expect(differs.code).toBe(1);
    expect(differs.stderr).toMatch(
      /^cpreg: the register list of a57\.cpu0 \(258\) differs from the stream's cpu 0 \(304\): only in the stream: .+\n$/,
    );
    const serverSide = await cpreg(['rewrite', mig, '--vm', 'a57', '-o', out, '--no-check'], env);
    expect(serverSide.code).toBe(1);
    expect(serverSide.stderr).toMatch(/^cpreg: 422 Migration blob refused: the register list of a57\.cpu0/);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.existsSync(out + '.part')).toBe(false);
  });

  test("QEMU's verdict: set warns, --strict refuses (exit 1, nothing recorded); rewrite refuses, --lenient writes", async () => {
    const env = { CPREG_URL: server.url };
    expect((await cpreg(['import', mig, '--vm', 'qv'], env)).code).toBe(0);
    const strict = await cpreg(['set', 'qv.cpu0', 'ID_AA64MMFR0_EL1=0x0', '--strict'], env);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/^cpreg: 409 .*constant/);
    expect(strict.stderr.split('\n')).toHaveLength(2);
    expect((await request(server.url).get('/v1/cpus/qv.cpu0')).body.version).toBe(1);
    const warned = await cpreg(['set', 'qv.cpu0', 'ID_AA64MMFR0_EL1=0x0'], env);
    expect(warned.code).toBe(0);
    expect(warned.stdout).toMatch(/warning: constant-differs: .*ID_AA64MMFR0_EL1 \(incoming 0x0000000000000000/);
    const out = path.join(dir, 'qv.mig');
    const refused = await cpreg(['rewrite', mig, '--vm', 'qv', '-o', out], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^cpreg: 409 .*ID_AA64MMFR0_EL1|would refuse/);
    expect(fs.existsSync(out)).toBe(false);
    const lenient = await cpreg(['rewrite', mig, '--vm', 'qv', '-o', out, '--lenient'], env);
    expect(lenient.code).toBe(0);
    expect(fs.statSync(out).size).toBe(fs.statSync(mig).size);
  });

  test('a refusal after the answer started (server aborts): exit 1, one line, no output file', async () => {
    const small = await startServer(
      configFromEnv({
        PORT: '0',
        HOST: '127.0.0.1',
        CPREG_DB: path.join(dir, 'db2', 'cpreg.db'),
        CPREG_REWRITE_HOLDBACK: '4096',
      }),
      createLogger('silent'),
    );
    try {
      const one = readStream([stream('aarch64-max-smp2')]).cpus[0]!.block;
      await request(small.url)
        .post('/v1/cpus?format=v22&accelerator=tcg&id=half.cpu0')
        .set('content-type', 'application/octet-stream')
        .send(Buffer.from(one))
        .expect(201);
      const out = path.join(dir, 'half.mig');
      const r = await cpreg(['rewrite', mig, '--vm', 'half', '-o', out, '--no-check', '--server', small.url]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^cpreg: the server aborted the answer after \d+ bytes .*request id [0-9a-f-]{36}.*\n$/);
      expect(fs.existsSync(out)).toBe(false);
      expect(fs.existsSync(out + '.part')).toBe(false);
      // with the client-side check the reason comes first, and nothing is uploaded
      const checked = await cpreg(['rewrite', mig, '--vm', 'half', '-o', out, '--server', small.url]);
      expect(checked.code).toBe(1);
      expect(checked.stderr).toBe(
        "cpreg: no vCPU half.cpu1 on the server for the stream's cpu 1 (import the stream first)\n",
      );
    } finally {
      await small.close();
    }
  });

  test('import refusal and an unreachable server: exit 1, one line', async () => {
    const bad = path.join(dir, 'cut.mig');
    fs.writeFileSync(bad, stream('aarch64-max-smp2').subarray(0, 100000));
    const r = await cpreg(['import', bad, '--vm', 'x'], { CPREG_URL: server.url });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^cpreg: 422 Malformed migration blob: at byte \d+: .*\n$/);
    const down = await cpreg(['import', mig, '--vm', 'x', '--server', 'http://127.0.0.1:1']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^cpreg: cannot connect to http:\/\/127\.0\.0\.1:1 .*\n$/);
  });
});
