import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import request from 'supertest';
import { readStream } from '../../domain/qemu-stream';
import { makeTestApp, type TestApp } from '../helpers/app';
import { binary } from '../helpers/binary';

/**
 * The measured register model in every answer (issue 10, "one model everywhere"): a write's
 * warnings and `Prefer: handling=strict`, the pre-flight's verdict, the matrix's, and a rewrite the
 * stream's QEMU would refuse — over real QEMU 7.2 streams (the model is in domain/register-model).
 */
const stream = (name: string) =>
  zlib.gunzipSync(fs.readFileSync(path.resolve(__dirname, '../fixtures/qemu', `${name}.mig.gz`)));
const OCTET = 'application/octet-stream';
const JSON_TYPE = 'application/json';
const ID_AA64MMFR0_EL1 = '0x603000000013c038';
const TPIDR_EL0 = '0x603000000013de82';
const TPIDRURW = '0x40200000200f6802';
/** VBAR_EL1: its low 5 bits are RES0 (measured: QEMU 7.2 max keeps 0x…ffe0). */
const VBAR_EL1 = '0x603000000013c600';

let t: TestApp;
const api = () => request(t.app);
const MAX = stream('aarch64-max-smp2');

beforeAll(async () => {
  t = makeTestApp({ limits: { maxStreamUploads: 16 } });
  expect((await api().post('/v1/qemu-streams/import?vm=vm').set('content-type', OCTET).send(MAX)).status).toBe(200);
  const r = await api().put('/v1/host-profiles/h-max?qemu=7.2').set('content-type', OCTET).send(MAX);
  expect(r.status).toBe(201);
});
afterAll(() => t.close());

const put = (reg: string, value: string, prefer?: string) => {
  const q = api().put(`/v1/cpus/vm.cpu0/registers/${reg}`).set('content-type', JSON_TYPE);
  return (prefer ? q.set('Prefer', prefer) : q).send({ value });
};
const version = async () => (await api().get('/v1/cpus/vm.cpu0')).body.version as number;

describe('host profiles are fingerprinted from the measured constants', () => {
  test('an idle QEMU 7.2 max stream without cpuModel is max', async () => {
    const p = await api().get('/v1/host-profiles/h-max');
    expect(p.body.cpuModel).toBe('max');
  });
});

describe('a write answers what its own QEMU would make of it', () => {
  test('a constant set to another value: constant-differs, with the value QEMU holds; strict refuses, records nothing', async () => {
    const before = await version();
    const strict = await put(ID_AA64MMFR0_EL1, '0x0', 'handling=strict');
    expect(strict.status).toBe(409);
    expect(strict.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(strict.body.type).toMatch(/qemu-would-refuse$/);
    expect(strict.body.findings[0]).toMatchObject({
      rule: 'constant-differs',
      registers: [
        expect.objectContaining({ id: ID_AA64MMFR0_EL1, name: 'ID_AA64MMFR0_EL1', incoming: '0x0000000000000000' }),
      ],
    });
    expect(strict.body.registers).toEqual([{ id: ID_AA64MMFR0_EL1, name: 'ID_AA64MMFR0_EL1', generic: false }]);
    expect(await version()).toBe(before);

    const lenient = await put(ID_AA64MMFR0_EL1, '0x0');
    expect(lenient.status).toBe(200);
    expect(lenient.body.warnings).toEqual([
      expect.objectContaining({
        rule: 'constant-differs',
        count: 1,
        registers: [
          expect.objectContaining({
            id: ID_AA64MMFR0_EL1,
            basis: 'measured',
            incoming: '0x0000000000000000',
            kept: '0x0000000000000000',
          }),
        ],
      }),
    ]);
    expect(await version()).toBe(before + 1);
  });

  test('TPIDRURW set alone: overwritten-on-load by TPIDR_EL0; set with TPIDR_EL0 consistently: no warning', async () => {
    const alone = await put(TPIDRURW, '0x12345678');
    expect(alone.status).toBe(200);
    expect(alone.body.warnings).toEqual([
      expect.objectContaining({
        rule: 'overwritten-on-load',
        registers: [
          expect.objectContaining({ id: TPIDRURW, overwrittenBy: TPIDR_EL0, overwrittenByName: 'TPIDR_EL0' }),
        ],
      }),
    ]);
    const both = await api()
      .patch('/v1/cpus/vm.cpu0/registers')
      .set('content-type', JSON_TYPE)
      .send({ values: { [TPIDRURW]: '0x9abcdef0', [TPIDR_EL0]: '0x000000009abcdef0' } });
    expect(both.status).toBe(200);
    expect(both.body.warnings).toEqual([]);
    // strict takes a write without warnings
    const ok = await put(TPIDR_EL0, '0x1', 'handling=strict');
    expect(ok.status).toBe(200);
    expect(ok.headers['preference-applied']).toBe('handling=strict');
  });

  test('bits a register does not keep: bits-not-kept; a sync that changes them warns the same', async () => {
    const r = await put(VBAR_EL1, '0x000000004000001f');
    expect(r.status).toBe(200);
    expect(r.body.warnings.map((w: { rule: string }) => w.rule)).toEqual(['bits-not-kept']);
    expect(r.body.warnings[0].registers[0]).toMatchObject({
      id: VBAR_EL1,
      name: 'VBAR_EL1',
      kept: '0xffffffffffffffe0',
    });
    expect((await put(VBAR_EL1, '0x0000000040000000')).body.warnings).toEqual([]);
    const sync = await api()
      .post('/v1/cpus/vm.cpu0/syncs')
      .set('content-type', JSON_TYPE)
      .set('Prefer', 'handling=strict')
      .send({ direction: 'from-accelerator', values: { [ID_AA64MMFR0_EL1]: '0x1' } });
    expect(sync.status).toBe(409);
    expect(sync.body.findings[0].rule).toBe('constant-differs');
  });
});

describe('the pre-flight gives the matrix verdict', () => {
  test('a block with a constant changed: verdict refused with constant-differs; its own block: accepted', async () => {
    const block = Buffer.from(readStream([MAX]).cpus[1]!.block);
    const own = await api().post('/v1/cpus/vm.cpu1/migration/check?format=v22').set('content-type', OCTET).send(block);
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ verdict: 'accepted', reasons: [] });
    const n = block.readUInt32BE(0);
    let k = -1;
    for (let i = 0; i < n; i++) if (block.readBigUInt64BE(4 + 8 * i) === BigInt(ID_AA64MMFR0_EL1)) k = i;
    block.writeBigUInt64BE(block.readBigUInt64BE(4 + 8 * n + 8 * k) ^ 0xfn, 4 + 8 * n + 8 * k);
    const bad = await api().post('/v1/cpus/vm.cpu1/migration/check?format=v22').set('content-type', OCTET).send(block);
    expect(bad.status).toBe(200);
    expect(bad.body.verdict).toBe('refused');
    expect(bad.body.reasons).toEqual([
      expect.objectContaining({
        rule: 'constant-differs',
        registers: [expect.objectContaining({ id: ID_AA64MMFR0_EL1 })],
      }),
    ]);
    const matrix = await api()
      .post('/v1/compatibility')
      .set('content-type', JSON_TYPE)
      .send({ cpus: ['vm.cpu1'], hostProfiles: ['h-max'] });
    expect(matrix.body.pairs[0].verdict).toBe('accepted');
  });

  test('a block with a register the vCPU lacks: 422 with the verdict attached', async () => {
    const tiny = await api()
      .post('/v1/cpus')
      .set('content-type', JSON_TYPE)
      .send({ id: 'tiny', accelerator: 'tcg', registers: [TPIDR_EL0] });
    expect(tiny.status).toBe(201);
    const block = Buffer.from(readStream([MAX]).cpus[0]!.block);
    const r = await api().post('/v1/cpus/tiny/migration/check?format=v22').set('content-type', OCTET).send(block);
    expect(r.status).toBe(422);
    expect(r.body.verdict).toBe('refused');
    expect(r.body.reasons[0].rule).toBe('more-registers');
  });
});

describe('a rewrite its QEMU would refuse is refused', () => {
  test('409 naming the register (nothing written); Prefer: handling=lenient writes it', async () => {
    // vm.cpu0 holds ID_AA64MMFR0_EL1 = 0 from the lenient write above
    const r = await api().post('/v1/qemu-streams/rewrite?vm=vm').set('content-type', OCTET).send(MAX);
    expect(r.status).toBe(409);
    expect(r.body.type).toMatch(/qemu-would-refuse$/);
    expect(r.body.registers.map((x: { id: string }) => x.id)).toContain(ID_AA64MMFR0_EL1);
    const lenient = await binary(
      api().post('/v1/qemu-streams/rewrite?vm=vm').set('content-type', OCTET).set('Prefer', 'handling=lenient'),
    ).send(MAX);
    expect(lenient.status).toBe(200);
    expect(lenient.headers['preference-applied']).toBe('handling=lenient');
    expect((lenient.body as Buffer).length).toBe(MAX.length);
  });
});

describe('KVM destinations: the structural rules, ID registers constant unless the kernel says which bits it takes', () => {
  const ID_AA64PFR0_EL1 = '0x603000000013c020';
  const regs = { [TPIDR_EL0]: '0x0', [ID_AA64PFR0_EL1]: '0x1100000011111112', [ID_AA64MMFR0_EL1]: '0x0' };
  beforeAll(async () => {
    const cpu = await api()
      .post('/v1/cpus')
      .set('content-type', JSON_TYPE)
      .send({ id: 'kvm1', accelerator: 'kvm', registers: Object.keys(regs) });
    expect(cpu.status).toBe(201);
    const w = await api()
      .patch('/v1/cpus/kvm1/registers')
      .set('content-type', JSON_TYPE)
      .send({ values: { [ID_AA64PFR0_EL1]: '0x1100000011111111', [TPIDR_EL0]: '0x5' } });
    expect(w.status).toBe(200);
    for (const [id, masks] of [
      ['kvm-plain', undefined],
      ['kvm-masks', { [ID_AA64PFR0_EL1]: '0x000000000000000f' }],
    ] as const) {
      const r = await api()
        .put(`/v1/host-profiles/${id}`)
        .set('content-type', JSON_TYPE)
        .send({
          accelerator: 'kvm',
          qemu: '10.0',
          cpuModel: 'host',
          registers: regs,
          ...(masks ? { writableMasks: masks } : {}),
        });
      expect(r.status).toBe(201);
    }
    const small = await api()
      .put('/v1/host-profiles/kvm-small')
      .set('content-type', JSON_TYPE)
      .send({
        accelerator: 'kvm',
        qemu: '10.0',
        cpuModel: 'host',
        registers: { [TPIDR_EL0]: '0x0', [ID_AA64PFR0_EL1]: '0x1' },
      });
    expect(small.status).toBe(201);
  });

  test('an ID register that differs is refused without masks, accepted where the mask takes those bits; a larger list on the count', async () => {
    const m = await api()
      .post('/v1/compatibility')
      .set('content-type', JSON_TYPE)
      .send({ cpus: ['kvm1'], hostProfiles: ['kvm-plain', 'kvm-masks', 'kvm-small'] });
    expect(m.status).toBe(200);
    const by = (h: string) => m.body.pairs.find((p: { hostProfile: string }) => p.hostProfile === h);
    expect(by('kvm-plain')).toMatchObject({
      verdict: 'refused',
      reasons: [
        expect.objectContaining({
          rule: 'constant-differs',
          registers: [expect.objectContaining({ id: ID_AA64PFR0_EL1 })],
        }),
      ],
    });
    expect(by('kvm-masks')).toMatchObject({ verdict: 'accepted', reasons: [] });
    expect(by('kvm-small').verdict).toBe('refused');
    expect(by('kvm-small').reasons[0].rule).toBe('more-registers');
  });
});

describe('fingerprinting a profile without cpuModel', () => {
  test("QEMU 10.0 cortex-a57: found; constants no measured model has, or another version's list: 422 saying so, nothing recorded", async () => {
    const a57 = stream('q10-aarch64-cortex-a57-smp2');
    const ok = await api().put('/v1/host-profiles/fp-a57?qemu=10.0').set('content-type', OCTET).send(a57);
    expect(ok.status).toBe(201);
    expect(ok.body.cpuModel).toBe('cortex-a57');
    const none = await api()
      .put('/v1/host-profiles/fp-none')
      .set('content-type', JSON_TYPE)
      .send({ accelerator: 'tcg', qemu: '10.0', registers: { [TPIDR_EL0]: '0x0', [ID_AA64MMFR0_EL1]: '0x1' } });
    expect(none.status).toBe(422);
    expect(none.body.detail).toMatch(/no CPU model of QEMU 10\.0 has these constants; give cpuModel/);
    const wrongVersion = await api().put('/v1/host-profiles/fp-72?qemu=7.2').set('content-type', OCTET).send(a57);
    expect(wrongVersion.status).toBe(422);
    expect((await api().get('/v1/host-profiles/fp-none')).status).toBe(404);
  });
});
