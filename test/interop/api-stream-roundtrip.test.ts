import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import request from 'supertest';
import { configFromEnv } from '../../api/config';
import { createLogger } from '../../api/logging';
import { startServer, type RunningServer } from '../../api/server';
import { readStream, type StreamInfo } from '../../domain/qemu-stream';
import { makeTestApp, type TestApp } from '../helpers/app';
import { describeWithQemu, migrateOut, runGuestAndMigrate, type Qemu, type QemuVersion, type VmSpec } from './qemu';
import { runCpreg } from '../helpers/cli';
import { binary } from '../helpers/binary';

/**
 * The judged round trip, through the service, with QEMU 7.2 and 10.0: real QEMU makes a stream (-smp 2), it is
 * imported (POST /v1/qemu-streams/import), one writable register of vCPU 1 is changed with a PUT,
 * the stream is rewritten (POST /v1/qemu-streams/rewrite), QEMU loads the result with -incoming
 * and migrates out again: the new value is there and nothing else changed (but the documented
 * mirrors, docs/qemu-streams.md). A changed ID register makes QEMU refuse the stream, and the
 * pre-flight (POST /v1/cpus/{id}/migration/check) warns about it. Each stream is loaded by the
 * QEMU version that made it. Never skipped with CI=true; elsewhere skipped (one line) without
 * that QEMU (test/interop/qemu.ts).
 */

const ROOT = resolve(__dirname, '..', '..');
const OCTET = 'application/octet-stream';

const TPIDR_EL0 = 0x603000000013de82n;
/** TPIDRURW (NS): QEMU keeps it in TPIDR_EL0's state, so it reads back the low 32 bits. */
const TPIDRURW_NS = 0x40200000200f6802n;
const ID_AA64MMFR0_EL1 = 0x603000000013c038n;
/** ID_MMFR0 (cp15 c0 c1 4, AArch32 U32): a constant of QEMU's too. */
const ID_MMFR0 = 0x40200000200f0084n;
/** DACR (NS); QEMU looks every AArch32 entry up as the NS register, so the Secure entry follows. */
const DACR_NS = 0x40200000200f1800n;
const DACR_S = 0x40200000000f1800n;

const hex = (v: bigint) => '0x' + v.toString(16);

interface Case {
  qemu: QemuVersion;
  vm: VmSpec;
  register: bigint;
  value: bigint;
  /** Other entries QEMU derives from the same state: id → the value they then hold. */
  mirrors: (ids: BigUint64Array) => Map<bigint, bigint>;
  via: 'api' | 'cli';
  /** A guest program (little-endian 32-bit instruction words) vCPU 0 runs before the migration. */
  program?: number[];
}

/**
 * AArch64: TPIDR_EL0 = TPIDR_EL1 = 0x1234, then count in x1 forever:
 * movz x0,#0x1234; msr tpidr_el0,x0; msr tpidr_el1,x0; add x1,x1,#1; b .-4
 */
const A64_PROGRAM = [0xd2824680, 0xd51bd040, 0xd518d080, 0x91000421, 0x17ffffff];
/**
 * AArch32 (A32): TPIDRURW = DACR = 0x12, then count in r1 forever:
 * mov r0,#0x12; mcr p15,0,r0,c13,c0,2; mcr p15,0,r0,c3,c0,0; add r1,r1,#1; b .-4
 */
const A32_PROGRAM = [0xe3a00012, 0xee0d0f50, 0xee030f10, 0xe2811001, 0xeafffffd];
/** Above the DTB, which QEMU puts at the start of RAM (0x40000000) when there is no kernel. */
const PROGRAM_ADDR = 0x40200000;

const tpidrMirrors = (v: bigint) => (ids: BigUint64Array) =>
  new Map(ids.includes(TPIDRURW_NS) ? [[TPIDRURW_NS, v & 0xffffffffn]] : []);

const CASES: Case[] = [
  {
    qemu: '7.2',
    vm: { bin: 'qemu-system-aarch64', cpu: 'max', smp: 2 },
    register: TPIDR_EL0,
    value: 0x1122334455667788n,
    mirrors: tpidrMirrors(0x1122334455667788n),
    via: 'api',
    program: A64_PROGRAM,
  },
  {
    qemu: '7.2',
    vm: { bin: 'qemu-system-arm', cpu: 'cortex-a15', smp: 2 },
    register: DACR_NS,
    value: 0x55555555n,
    mirrors: () => new Map([[DACR_S, 0x55555555n]]),
    via: 'cli',
    program: A32_PROGRAM,
  },
  {
    qemu: '7.2',
    vm: { bin: 'qemu-system-aarch64', cpu: 'cortex-a72', smp: 2 },
    register: TPIDR_EL0,
    value: 0x7fn,
    mirrors: tpidrMirrors(0x7fn),
    via: 'api',
  },
  {
    qemu: '7.2',
    vm: { bin: 'qemu-system-arm', cpu: 'cortex-a7', smp: 2 },
    register: DACR_NS,
    value: 0x40000001n,
    mirrors: () => new Map([[DACR_S, 0x40000001n]]),
    via: 'cli',
  },
  {
    qemu: '7.2',
    vm: { bin: 'qemu-system-aarch64', cpu: 'cortex-a15', smp: 2 },
    register: DACR_NS,
    value: 0x3n,
    mirrors: () => new Map([[DACR_S, 0x3n]]),
    via: 'api',
  },
  {
    qemu: '7.2',
    vm: { bin: 'qemu-system-aarch64', cpu: 'max', smp: 2 },
    register: TPIDR_EL0,
    value: 0x1122334455667788n,
    mirrors: tpidrMirrors(0x1122334455667788n),
    via: 'api',
  },
  {
    qemu: '7.2',
    vm: { bin: 'qemu-system-aarch64', cpu: 'cortex-a57', smp: 2 },
    register: TPIDR_EL0,
    value: 0x0badc0ffee0ddf00n,
    mirrors: tpidrMirrors(0x0badc0ffee0ddf00n),
    via: 'cli',
  },
  {
    qemu: '7.2',
    vm: { bin: 'qemu-system-arm', cpu: 'cortex-a15', smp: 2 },
    register: DACR_NS,
    value: 0x55555555n,
    mirrors: () => new Map([[DACR_S, 0x55555555n]]),
    via: 'api',
  },
  // QEMU 10.0 (-M virt = virt-10.0): cortex-a710 carries upper bits in its 32-bit CTR/CLIDR views
  {
    qemu: '10.0',
    vm: { bin: 'qemu-system-aarch64', cpu: 'cortex-a710', smp: 2 },
    register: TPIDR_EL0,
    value: 0x1122334455667788n,
    mirrors: tpidrMirrors(0x1122334455667788n),
    via: 'api',
    program: A64_PROGRAM,
  },
  {
    qemu: '10.0',
    vm: { bin: 'qemu-system-aarch64', cpu: 'neoverse-n2', smp: 2 },
    register: TPIDR_EL0,
    value: 0x0badc0ffee0ddf00n,
    mirrors: tpidrMirrors(0x0badc0ffee0ddf00n),
    via: 'cli',
  },
  {
    qemu: '10.0',
    vm: { bin: 'qemu-system-aarch64', cpu: 'max', smp: 2 },
    register: TPIDR_EL0,
    value: 0x7fn,
    mirrors: tpidrMirrors(0x7fn),
    via: 'api',
  },
  {
    qemu: '10.0',
    vm: { bin: 'qemu-system-arm', cpu: 'cortex-a15', smp: 2 },
    register: DACR_NS,
    value: 0x55555555n,
    mirrors: () => new Map([[DACR_S, 0x55555555n]]),
    via: 'cli',
    program: A32_PROGRAM,
  },
];

/** Every value of every vCPU that differs from `expected` (indexes must be the same). */
function differences(before: StreamInfo, after: StreamInfo, expected: Map<string, bigint>): string[] {
  const out: string[] = [];
  expect(after.cpus.map((c) => c.instance)).toEqual(before.cpus.map((c) => c.instance));
  for (const cpu of after.cpus) {
    const orig = before.cpus.find((c) => c.instance === cpu.instance)!;
    expect(Array.from(cpu.indexes)).toEqual(Array.from(orig.indexes));
    for (let i = 0; i < cpu.n; i++) {
      const want = expected.get(`${cpu.instance}:${cpu.indexes[i]}`) ?? orig.values[i]!;
      if (cpu.values[i] !== want)
        out.push(
          `cpu${cpu.instance} ${hex(cpu.indexes[i]!)} = ${hex(cpu.values[i]!)}, expected ${hex(want)} (was ${hex(orig.values[i]!)})`,
        );
    }
  }
  return out;
}

const cpreg = runCpreg;

/** The CLI is built once per run (for whichever QEMU needs it first). */
let built = false;

for (const version of ['7.2', '10.0'] as const)
  describeWithQemu(version, 'round trip through the API and the CLI', (qemu: Qemu) => {
    let dir = '';
    let t: TestApp;
    let server: RunningServer;
    const on = (vm: VmSpec): VmSpec => ({ ...vm, qemu });

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), `cpreg-api-interop-${version}-`));
      t = makeTestApp();
      if (!built) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 120000 });
      built = true;
      server = await startServer(
        configFromEnv({ PORT: '0', HOST: '127.0.0.1', CPREG_DB: join(dir, 'db', 'cpreg.db') }),
        createLogger('silent'),
      );
    }, 180000);

    afterAll(async () => {
      await server?.close();
      await t?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it.each(
      CASES.filter((c) => c.qemu === version).map(
        (c) =>
          [
            `${c.vm.bin} -cpu ${c.vm.cpu} -smp ${c.vm.smp}${c.program ? ', a guest that ran code' : ''} (${c.via})`,
            c,
          ] as const,
      ),
    )(
      '%s: import, PUT a register of vCPU 1, rewrite; QEMU loads it and migrates the new value out, all else unchanged',
      async (_name, c) => {
        const tag = `${c.vm.bin.replace('qemu-system-', '')}-${c.vm.cpu}-${c.via}${c.program ? '-ran' : ''}`;
        const vm = `rt-${tag}`;
        if (c.program) await runGuestAndMigrate(on(c.vm), c.program, PROGRAM_ADDR, dir, join(dir, `${tag}.a.mig`));
        else {
          const a = await migrateOut(on(c.vm), join(dir, `${tag}.a.mig`));
          if (!a.migrated) throw new Error(`QEMU did not migrate out:\n${a.log}`);
        }
        const original = readFileSync(join(dir, `${tag}.a.mig`));
        const before = readStream([original]);
        if (c.program) {
          // the guest's own writes are in the stream (vCPU 0 ran the program)
          const cpu0 = before.cpus[0]!;
          const ran = c.vm.bin === 'qemu-system-arm' ? [DACR_NS, 0x12n] : [TPIDR_EL0, 0x1234n];
          expect(cpu0.values[cpu0.indexes.indexOf(ran[0]!)]).toBe(ran[1]);
        }
        expect(before.cpus.map((x) => x.instance)).toEqual([0, 1]);
        expect(before.cpus[1]!.indexes.includes(c.register)).toBe(true);
        const rewritten = join(dir, `${tag}.b.mig`);

        if (c.via === 'api') {
          const imp = await request(t.app)
            .post(`/v1/qemu-streams/import?vm=${vm}`)
            .set('content-type', OCTET)
            .send(original);
          expect(imp.status).toBe(200);
          expect(imp.body.cpus.map((x: { id: string; action: string }) => [x.id, x.action])).toEqual([
            [`${vm}.cpu0`, 'created'],
            [`${vm}.cpu1`, 'created'],
          ]);
          if (c.vm.cpu === 'cortex-a710') {
            // QEMU 10.0's 64-bit slot of the 32-bit CTR view, shown as QEMU holds it
            const got = await request(t.app).get(`/v1/cpus/${vm}.cpu1`).expect(200);
            const ctr = (got.body.registers as Array<{ id: string; value: string }>).find(
              (r) => r.id === '0x40200000200f0001',
            );
            expect(ctr?.value).toBe('0x000000049444c004');
          }
          await request(t.app)
            .put(`/v1/cpus/${vm}.cpu1/registers/0x${c.register.toString(16).padStart(16, '0')}`)
            .set('content-type', 'application/json')
            .send({ value: hex(c.value) })
            .expect(200);
          const rw = await binary(
            request(t.app).post(`/v1/qemu-streams/rewrite?vm=${vm}`).set('content-type', OCTET),
          ).send(original);
          expect(rw.status).toBe(200);
          writeFileSync(rewritten, rw.body as Buffer);
        } else {
          const env = { CPREG_URL: server.url, CPREG_TOKEN: '' };
          const imp = await cpreg(['import', join(dir, `${tag}.a.mig`), '--vm', vm], env);
          expect(imp.stderr).toBe('');
          expect(imp.stdout).toBe(`${vm}.cpu0: created, version 1\n${vm}.cpu1: created, version 1\n`);
          await request(server.url)
            .put(`/v1/cpus/${vm}.cpu1/registers/0x${c.register.toString(16).padStart(16, '0')}`)
            .set('content-type', 'application/json')
            .send({ value: hex(c.value) })
            .expect(200);
          const rw = await cpreg(['rewrite', join(dir, `${tag}.a.mig`), '--vm', vm, '-o', rewritten], env);
          expect(rw.stderr).toBe('');
          expect(rw.code).toBe(0);
        }

        // The rewritten stream differs from QEMU's only in the changed register of vCPU 1.
        const changed = new Map([[`1:${c.register}`, c.value]]);
        expect(differences(before, readStream([readFileSync(rewritten)]), changed)).toEqual([]);

        const back = await migrateOut(on(c.vm), join(dir, `${tag}.c.mig`), rewritten);
        expect(back.log).not.toMatch(/error while loading state/);
        expect(back.migrated).toBe(true);
        const after = readStream([readFileSync(join(dir, `${tag}.c.mig`))]);
        for (const [id, v] of c.mirrors(before.cpus[1]!.indexes)) changed.set(`1:${id}`, v);
        expect(differences(before, after, changed)).toEqual([]);
        const k = after.cpus[1]!.indexes.indexOf(c.register);
        expect(after.cpus[1]!.values[k]).toBe(c.value);
        expect(after.cpus[0]!.values[k]).toBe(before.cpus[0]!.values[k]);

        // The stream QEMU sent back imports as a load that changes exactly what QEMU changed.
        const again = await request(t.app)
          .post(`/v1/qemu-streams/import?vm=${vm}-again`)
          .set('content-type', OCTET)
          .send(readFileSync(join(dir, `${tag}.c.mig`)));
        expect(again.status).toBe(200);
      },
      240000,
    );

    it.each([
      [
        'qemu-system-aarch64 -cpu max, ID_AA64MMFR0_EL1',
        { bin: 'qemu-system-aarch64', cpu: 'max', smp: 2 },
        ID_AA64MMFR0_EL1,
        'ID_AA64MMFR0_EL1',
      ],
      [
        'qemu-system-arm -cpu cortex-a15, ID_MMFR0 (AArch32)',
        { bin: 'qemu-system-arm', cpu: 'cortex-a15', smp: 2 },
        ID_MMFR0,
        'ID_MMFR0',
      ],
    ] as const)(
      '%s of vCPU 1 changed: the rewrite is refused (409) and, written anyway, the pre-flight warns and QEMU refuses the stream',
      async (_n, spec: VmSpec, reg: bigint, regName: string) => {
        const tag = `id-${spec.cpu}`;
        const src = `src-${spec.cpu}`;
        const dst = `dst-${spec.cpu}`;
        const regHex = '0x' + reg.toString(16).padStart(16, '0');
        const a = await migrateOut(on(spec), join(dir, `${tag}.a.mig`));
        expect(a.migrated).toBe(true);
        const original = readFileSync(join(dir, `${tag}.a.mig`));
        const post = (path: string, body: Buffer) => request(t.app).post(path).set('content-type', OCTET).send(body);
        // "src" is what we edit; "dst" mirrors the destination QEMU (same model, its own constants)
        await post(`/v1/qemu-streams/import?vm=${src}`, original).expect(200);
        await post(`/v1/qemu-streams/import?vm=${dst}`, original).expect(200);
        const cpu1 = readStream([original]).cpus[1]!;
        const old = cpu1.values[cpu1.indexes.indexOf(reg)]!;
        const changedValue = old ^ 0xfn;
        const put = await request(t.app)
          .put(`/v1/cpus/${src}.cpu1/registers/${regHex}`)
          .set('content-type', 'application/json')
          .send({ value: hex(changedValue) });
        expect(put.status).toBe(200);
        // The service refuses the rewrite (its QEMU would refuse it) …
        const refused = await post(`/v1/qemu-streams/rewrite?vm=${src}`, original);
        expect(refused.status).toBe(409);
        expect(refused.body.registers).toEqual([{ id: regHex, name: regName, generic: false }]);
        // … and writes it when told to, so that QEMU can be asked.
        const rw = await binary(post(`/v1/qemu-streams/rewrite?vm=${src}`, original).set('Prefer', 'handling=lenient'));
        expect(rw.status).toBe(200);
        const file = join(dir, `${tag}.b.mig`);
        writeFileSync(file, rw.body as Buffer);
        const block = Buffer.from(readStream([rw.body as Buffer]).cpus[1]!.block);

        // The pre-flight of that block against the destination's vCPU 1 warns …
        const check = await post(`/v1/cpus/${dst}.cpu1/migration/check?format=v22`, block);
        expect(check.status).toBe(200);
        expect(check.body.warnings).toEqual([
          expect.objectContaining({ kind: 'read-only-id-register-changed', register: regHex, name: regName }),
        ]);
        expect(check.body.changed).toEqual([
          {
            id: regHex,
            name: regName,
            generic: false,
            value: '0x' + changedValue.toString(16).padStart(reg >> 52n === 0x402n ? 8 : 16, '0'),
          },
        ]);
        // … and so does importing the whole stream into it (a load, reported with the warning).
        const imp = await post(`/v1/qemu-streams/import?vm=${dst}`, rw.body as Buffer);
        expect(imp.status).toBe(200);
        expect(imp.body.cpus[1].report.warnings).toHaveLength(1);
        expect(imp.body.cpus[0].report.warnings).toHaveLength(0);

        // … and real QEMU refuses it.
        const r = await migrateOut(on(spec), join(dir, `${tag}.c.mig`), file);
        expect(r.log).toMatch(/error while loading state for instance 0x1 of device 'cpu'/);
        expect(r.migrated).toBe(false);
        expect(r.exitCode).not.toBe(0);
      },
      240000,
    );
  });
