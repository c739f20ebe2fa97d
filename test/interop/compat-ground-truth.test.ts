import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import request from 'supertest';
import { identifyModel, predictLoad, type Destination, type LoadVerdict } from '../../domain/compatibility';
import { layoutArrays, writeValueAt, type CpregArrays } from '../../domain/cpreg-arrays';
import { readStream, type StreamInfo } from '../../domain/qemu-stream';
import { type QemuVersion, type RegisterModel } from '../../domain/register-model';
import { makeTestApp } from '../helpers/app';
import { isReadOnlyIdRegister } from '../../domain/vmstate/read-only-ids';
import {
  arraysOf,
  describeWithQemus,
  runAgainIfFailed,
  idleStream,
  QemuRunner,
  valuesOut,
  withList,
  withValues,
  type Qemu,
  type QemuPair,
  type VmSpec,
} from './qemu-probe';

/**
 * Ground truth: real QEMU 7.2 and 10.0 loads (`-incoming`, TCG) of real and patched streams —
 * across CPU models, both versions in both directions (7.2 into 10.0 with -M virt-7.2, 10.0 made with
 * -M virt-7.2 into 7.2), patched constants, bits not kept, registers overwritten on load, lists with
 * registers left out or ids above the destination's — each compared with predictLoad's verdict,
 * and for an accepted load every value QEMU migrates out with the value the prediction implies.
 * Prints the agreement. Fails under CI=true without QEMU; skips with one line locally.
 */
const M64 = (1n << 64n) - 1n;
const TPIDR_EL0 = 0x603000000013de82n;
const TPIDRURW = 0x40200000200f6802n;
const ID_AA64MMFR0 = 0x603000000013c038n;
const ID_MMFR0 = 0x40200000200f0084n;
const SCTLR_EL1 = 0x603000000013c080n;
const DACR = 0x40200000200f1800n;
const IFAR = 0x40200000200f3002n;
const MIDR_A32 = 0x40200000200f0000n; // p15 0 c0 c0 0

type Binary = VmSpec['binary'];
interface Host {
  label: string;
  vm: VmSpec;
  model: RegisterModel | undefined;
  stream: Buffer;
  info: StreamInfo;
  /** vCPU 0's arrays. */
  arrays: CpregArrays;
  /** Every vCPU's arrays, by instance. */
  cpus: CpregArrays[];
}
interface Case {
  name: string;
  host: Host;
  /** The stream to load, and each vCPU's list as it carries it (by instance). */
  stream: Buffer;
  incoming: CpregArrays[];
}
interface Row {
  name: string;
  predicted: LoadVerdict;
  qemu: 'accepted' | 'refused';
  agree: boolean;
  /** Accepted loads: registers whose migrated-out value differs from what the prediction implies. */
  values: string[];
  error: string;
}

/** The rows whose verdict is not QEMU's, one line each. */
const disagreements = (rows: readonly Row[]): string[] =>
  rows.filter((r) => !r.agree).map((r) => `${r.name}: predicted ${r.predicted.verdict}, QEMU ${r.qemu} ${r.error}`);

/** A small deterministic generator (the suite must give the same cases every run). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function arraysFrom(list: readonly { id: bigint; value: bigint }[]): CpregArrays {
  const a = layoutArrays(BigUint64Array.from(list.map((r) => r.id)));
  list.forEach((r, i) => writeValueAt(a, i, r.value));
  return a;
}
function listOf(a: CpregArrays): { id: bigint; value: bigint }[] {
  return [...a.cpregIndexes].map((id, i) => ({ id, value: a.cpregValues[a.cpregValueIndexes[i]!]! }));
}
const hex = (x: bigint): string => '0x' + x.toString(16);

function destinationOf(h: Host, instance = 0): Destination {
  return { accelerator: 'tcg', arrays: h.cpus[instance]!, ...(h.model ? { model: h.model } : {}) };
}

/** What a vCPU holds after an accepted load, as the prediction implies it. */
function expectedAfter(
  incomingArrays: CpregArrays,
  dest: CpregArrays,
  v: LoadVerdict,
): Map<bigint, bigint | undefined> {
  const out = new Map<bigint, bigint | undefined>();
  const incoming = new Map(listOf(incomingArrays).map((r) => [r.id, r.value]));
  for (const { id } of listOf(dest)) out.set(id, incoming.has(id) ? incoming.get(id)! : 0n);
  for (const f of v.warnings) {
    if (f.rule !== 'overwritten-on-load') continue;
    for (const r of f.registers) out.set(r.id, r.becomes);
  }
  return out;
}

describeWithQemus('compatibility ground truth: predictLoad against real QEMU loads', (q: QemuPair) => {
  const runner = new QemuRunner(Number(process.env.PROBE_JOBS ?? 2));
  const hosts = new Map<string, Host>();
  const rows: Row[] = [];
  let unpredictable = 0;

  afterAll(() => runner.close());

  async function host(qemu: Qemu, binary: Binary, cpu: string, machine = 'virt', smp = 1): Promise<Host> {
    const label =
      `${qemu.version} ${binary.replace('qemu-system-', '')} ${cpu}${machine === 'virt' ? '' : ' -M ' + machine}` +
      (smp === 1 ? '' : ` -smp ${smp}`);
    const known = hosts.get(label);
    if (known) return known;
    const vm: VmSpec = { qemu, binary, machine, cpu, smp };
    const { stream, info } = await idleStream(runner, vm);
    const cpus = info.cpus.map(arraysOf);
    // As the service finds a host profile's model: its QEMU version, CPU model and the stream's
    // machine type, the rest from the list (machine options, binary).
    const model = identifyModel(cpus[0]!, {
      qemu: qemu.version as QemuVersion,
      cpu,
      ...(info.machine ? { machineType: info.machine } : {}),
    });
    const h: Host = { label, vm, model, stream, info, arrays: cpus[0]!, cpus };
    hosts.set(label, h);
    return h;
  }

  /** The verdicts of every vCPU: the stream is refused when one of them is. */
  function predictAll(c: Case): LoadVerdict {
    const vs = c.incoming.map((a, i) => predictLoad(a, destinationOf(c.host, i)));
    const refused = vs.find((v) => v.verdict === 'refused');
    return refused ?? vs[0]!;
  }

  async function judge(c: Case): Promise<Row> {
    const predicted = predictAll(c);
    const r = await runAgainIfFailed(() => runner.run(c.host.vm, { incoming: c.stream, migrateOut: true }));
    if (r.kind === 'failed') throw new Error(`${c.name}: QEMU failed: ${r.errors.join('; ')}`);
    const values: string[] = [];
    if (r.kind === 'accepted' && predicted.verdict === 'accepted' && r.stream) {
      c.incoming.forEach((a, instance) => {
        const got = valuesOut(r.stream!, instance);
        const v = predictLoad(a, destinationOf(c.host, instance));
        for (const [id, want] of expectedAfter(a, c.host.cpus[instance]!, v)) {
          const f = c.host.model?.fact(id);
          if (f?.volatile) continue;
          const have = got.get(id);
          // Bits QEMU recomputes after the load (a timer's ISTATUS) are not the stream's to decide.
          const mask = M64 & ~(f?.unstable ?? 0n);
          // A warning that says the value is not predictable (a writer whose effect no shift
          // explains) predicts nothing to compare.
          if (want === undefined) {
            unpredictable++;
            continue;
          }
          if (have === undefined || (have & mask) !== (want & mask))
            values.push(
              `cpu${instance} ${hex(id)}: predicted ${want === undefined ? '?' : hex(want)}, QEMU ${have === undefined ? '-' : hex(have)}`,
            );
        }
      });
    }
    const row: Row = {
      name: c.name,
      predicted,
      qemu: r.kind,
      agree: r.kind === predicted.verdict,
      values,
      error: r.errors.filter((e) => !/load of migration failed/.test(e)).join('; '),
    };
    rows.push(row);
    return row;
  }

  const load = (name: string, source: Host, dest: Host): Case => ({
    name,
    host: dest,
    stream: source.stream,
    incoming: source.cpus,
  });
  /** The host's own stream with values of one vCPU (default the last) changed. */
  function patch(dest: Host, name: string, changes: Map<bigint, bigint>, instance = dest.cpus.length - 1): Case {
    const list = listOf(dest.cpus[instance]!).map((r) =>
      changes.has(r.id) ? { id: r.id, value: changes.get(r.id)! } : r,
    );
    const incoming = dest.cpus.slice();
    incoming[instance] = arraysFrom(list);
    return {
      name: `${dest.label}: ${name}`,
      host: dest,
      stream: withValues(dest.stream, dest.info, instance, changes),
      incoming,
    };
  }
  function edit(dest: Host, name: string, list: { id: bigint; value: bigint }[]): Case {
    return {
      name: `${dest.label}: ${name}`,
      host: dest,
      stream: withList(dest.stream, dest.info, 0, list),
      incoming: [arraysFrom(list), ...dest.cpus.slice(1)],
    };
  }

  /** Patches of one host's own stream: one per rule, then seeded random ones. */
  function patchesOf(h: Host, seed: number): Case[] {
    const cases: Case[] = [];
    const list = listOf(h.arrays);
    const value = new Map(list.map((r) => [r.id, r.value]));
    const has = (id: bigint): boolean => value.has(id);
    const m = h.model;
    const fact = (id: bigint) => m?.fact(id);
    const one = (name: string, id: bigint, v: bigint): void => {
      cases.push(patch(h, `${name} ${hex(id)} = ${hex(v)}`, new Map([[id, v]])));
    };
    if (has(ID_AA64MMFR0)) one('ID register changed', ID_AA64MMFR0, value.get(ID_AA64MMFR0)! ^ 0xf0n);
    if (has(ID_MMFR0)) one('ID register changed', ID_MMFR0, value.get(ID_MMFR0)! ^ 0x10n);
    if (has(TPIDR_EL0)) one('TPIDR_EL0 written', TPIDR_EL0, 0x1122334455667788n);
    if (has(TPIDRURW)) one('TPIDRURW written alone', TPIDRURW, 0x40200000n);
    if (has(TPIDRURW)) one('TPIDRURW given upper bits', TPIDRURW, 0x1_0000_0001n);
    if (has(DACR)) one('DACR written', DACR, 0x55555555n);
    if (has(MIDR_A32)) one('AArch32 MIDR changed', MIDR_A32, value.get(MIDR_A32)! ^ 0x10n);
    if (has(IFAR)) one('IFAR written alone', IFAR, 0xabcd0000n);
    if (m) {
      // A constant outside the ID space, and a register that keeps some bits only.
      const outside = m.facts.find(
        (f) => f.kind === 'constant' && !isReadOnlyIdRegister(f.id) && !f.varies && has(f.id),
      );
      if (outside) one('non-ID constant changed', outside.id, value.get(outside.id)! ^ 1n);
      const partial = m.facts.filter((f) => f.keep !== 0n && f.keep !== M64 && f.keep !== 0xffffffffn && has(f.id));
      for (const f of partial.slice(0, 3)) {
        const notKept = ~f.keep & M64;
        const bit = notKept & -notKept;
        one('bit not kept', f.id, value.get(f.id)! ^ bit);
        one('kept bits flipped', f.id, value.get(f.id)! ^ f.keep);
      }
    }
    // Random: 3 registers per case, each a random value within its kept bits (or, one time in
    // four, a random bit flipped anywhere).
    const rnd = lcg(seed);
    for (let k = 0; k < 6; k++) {
      const changes = new Map<bigint, bigint>();
      for (let j = 0; j < 3; j++) {
        const r = list[Math.floor(rnd() * list.length)]!;
        const keep = fact(r.id)?.keep ?? M64;
        const x = (BigInt(Math.floor(rnd() * 2 ** 32)) << 32n) | BigInt(Math.floor(rnd() * 2 ** 32));
        const v = rnd() < 0.25 ? r.value ^ (1n << BigInt(Math.floor(rnd() * 64))) : (r.value & ~keep) | (x & keep);
        changes.set(r.id, v & M64);
      }
      cases.push(patch(h, `random ${[...changes].map(([id, v]) => `${hex(id)}=${hex(v)}`).join(' ')}`, changes));
    }
    // Lists: a writable register with a non-zero value left out, a non-zero constant left out, an
    // id above the highest replacing the last one (same count), one more register than it has.
    const nz = list.filter((r) => r.value !== 0n);
    const writable = nz.find((r) => (fact(r.id)?.kind ?? 'writable') === 'writable' && r.id !== SCTLR_EL1) ?? nz[0];
    if (has(SCTLR_EL1)) edit1('SCTLR_EL1 left out', (l) => l.filter((r) => r.id !== SCTLR_EL1));
    if (writable) edit1(`${hex(writable.id)} left out`, (l) => l.filter((r) => r.id !== writable.id));
    const constant = nz.find((r) => fact(r.id)?.kind === 'constant' || (!m && isReadOnlyIdRegister(r.id)));
    if (constant) edit1(`constant ${hex(constant.id)} left out`, (l) => l.filter((r) => r.id !== constant.id));
    edit1('last id replaced by a higher one', (l) => [...l.slice(0, -1), { id: l[l.length - 1]!.id + 1n, value: 7n }]);
    edit1('one register more', (l) => [...l, { id: l[l.length - 1]!.id + 1n, value: 0n }]);
    edit1('an unknown id below the highest', (l) => [{ id: l[0]!.id - 1n, value: 0n }, ...l.slice(1)]);
    function edit1(name: string, f: (l: { id: bigint; value: bigint }[]) => { id: bigint; value: bigint }[]): void {
      cases.push(edit(h, name, f(list.slice())));
    }
    return cases;
  }

  const A64: Binary = 'qemu-system-aarch64';
  const A32: Binary = 'qemu-system-arm';
  const MODELS_72: [Binary, string][] = [
    [A64, 'max'],
    [A64, 'cortex-a57'],
    [A64, 'cortex-a53'],
    [A64, 'cortex-a72'],
    [A64, 'cortex-a76'],
    [A64, 'neoverse-n1'],
    [A64, 'a64fx'],
    [A64, 'cortex-a15'],
    [A64, 'max,pauth=off'],
    [A32, 'cortex-a15'],
    [A32, 'cortex-a7'],
    [A32, 'max'],
  ];
  const MODELS_10: [Binary, string][] = [
    [A64, 'max'],
    [A64, 'cortex-a57'],
    [A64, 'cortex-a710'],
    [A64, 'neoverse-n2'],
    [A64, 'neoverse-v1'],
    [A64, 'cortex-a76'],
    [A64, 'cortex-a55'],
    [A64, 'max,sve=off'],
    [A32, 'cortex-a15'],
    [A32, 'cortex-a7'],
  ];

  it('real streams between CPU models of one QEMU version (same binary): every verdict as predicted', async () => {
    for (const [qemu, models] of [
      [q.q72, MODELS_72],
      [q.q10, MODELS_10],
    ] as const) {
      const hs = await Promise.all(models.map(([b, cpu]) => host(qemu, b, cpu)));
      const cases: Case[] = [];
      for (const s of hs)
        for (const d of hs) if (s.vm.binary === d.vm.binary) cases.push(load(`${s.label} → ${d.label}`, s, d));
      await Promise.all(cases.map(judge));
    }
    expect(disagreements(rows)).toEqual([]);
  }, 600000);

  it('real streams between QEMU versions: 7.2 into 10.0 (-M virt-7.2) and 10.0 (-M virt-7.2) into 7.2', async () => {
    const start = rows.length;
    const cases: Case[] = [];
    for (const [b, cpu] of [
      [A64, 'max'],
      [A64, 'cortex-a57'],
      [A64, 'cortex-a72'],
      [A64, 'cortex-a76'],
      [A32, 'cortex-a15'],
      [A32, 'cortex-a7'],
    ] as [Binary, string][]) {
      const old = await host(q.q72, b, cpu);
      const newer = await host(q.q10, b, cpu, 'virt-7.2');
      cases.push(load(`${old.label} → ${newer.label}`, old, newer), load(`${newer.label} → ${old.label}`, newer, old));
    }
    const a57on10 = await host(q.q10, A64, 'cortex-a57', 'virt-7.2');
    const maxOn72 = await host(q.q72, A64, 'max');
    cases.push(load(`${a57on10.label} → ${maxOn72.label}`, a57on10, maxOn72));
    await Promise.all(cases.map(judge));
    expect(disagreements(rows.slice(start))).toEqual([]);
  }, 600000);

  it('machine options and vCPU counts: secure=on, virtualization=on, -smp 2 (each into itself, and across)', async () => {
    const start = rows.length;
    const cases: Case[] = [];
    for (const [qemu, b, cpu, machine, smp] of [
      [q.q72, A64, 'max', 'virt,virtualization=on,secure=on', 1],
      [q.q72, A64, 'max', 'virt,secure=on', 1],
      [q.q72, A64, 'cortex-a57', 'virt,secure=on', 1],
      [q.q72, A64, 'max', 'virt', 2],
      [q.q72, A32, 'cortex-a15', 'virt,virtualization=on,secure=on', 1],
      [q.q10, A64, 'max', 'virt,virtualization=on,secure=on', 1],
      [q.q10, A64, 'max', 'virt,virtualization=on', 1],
      [q.q10, A64, 'cortex-a710', 'virt,secure=on', 1],
      [q.q10, A64, 'neoverse-v1', 'virt', 2],
      [q.q10, A32, 'cortex-a7', 'virt,secure=on', 1],
    ] as [Qemu, Binary, string, string, number][]) {
      const h = await host(qemu, b, cpu, machine, smp);
      cases.push(load(`${h.label} → itself`, h, h));
    }
    // Across CPU models with the same machine options.
    const a = await host(q.q72, A64, 'cortex-a57', 'virt,secure=on');
    const b = await host(q.q72, A64, 'max', 'virt,secure=on');
    cases.push(load(`${a.label} → ${b.label}`, a, b), load(`${b.label} → ${a.label}`, b, a));
    await Promise.all(cases.map(judge));
    expect(disagreements(rows.slice(start))).toEqual([]);
  }, 600000);

  it('through the API: the matrix and the pre-flight give QEMU verdicts already measured above', async () => {
    // Every host seen so far: a host profile from its idle stream (?qemu=&cpuModel=), and a VM
    // imported from the same stream. A pair (source VM's vCPU 0, destination profile) whose load
    // QEMU judged above must get QEMU's verdict from POST /v1/compatibility, and from the
    // destination VM's pre-flight of the source's block.
    const t = makeTestApp({ limits: { maxStreamUploads: 64 } });
    try {
      const api = () => request(t.app);
      const list = [...hosts.values()].filter((h) => h.vm.smp === 1);
      const slug = (h: Host) => h.label.replace(/[^A-Za-z0-9]+/g, '-');
      for (const h of list) {
        const imp = await api()
          .post(`/v1/qemu-streams/import?vm=${slug(h)}`)
          .set('content-type', 'application/octet-stream')
          .send(h.stream);
        expect(imp.status).toBe(200);
        const p = await api()
          .put(`/v1/host-profiles/${slug(h)}?qemu=${h.vm.qemu.version}&cpuModel=${encodeURIComponent(h.vm.cpu)}`)
          .set('content-type', 'application/octet-stream')
          .send(h.stream);
        expect(p.status).toBe(201);
      }
      const byName = new Map(rows.map((r) => [r.name, r]));
      const m = await api()
        .post('/v1/compatibility?maxRegisters=0')
        .set('content-type', 'application/json')
        .send({ cpus: list.map((h) => `${slug(h)}.cpu0`), hostProfiles: list.map(slug) });
      expect(m.status).toBe(200);
      let compared = 0;
      const wrong: string[] = [];
      for (const s of list)
        for (const d of list) {
          const row =
            byName.get(`${s.label} → ${d.label}`) ?? (s === d ? byName.get(`${s.label} → itself`) : undefined);
          if (!row) continue;
          compared++;
          const pair = (m.body.pairs as { cpu: string; hostProfile: string; verdict: string }[]).find(
            (x) => x.cpu === `${slug(s)}.cpu0` && x.hostProfile === slug(d),
          )!;
          if (pair.verdict !== row.qemu) wrong.push(`matrix ${row.name}: ${pair.verdict}, QEMU ${row.qemu}`);
          const check = await api()
            .post(`/v1/cpus/${slug(d)}.cpu0/migration/check?format=v22`)
            .set('content-type', 'application/octet-stream')
            .send(Buffer.from(s.info.cpus[0]!.block));
          if (check.body.verdict !== row.qemu)
            wrong.push(`pre-flight ${row.name}: ${check.body.verdict}, QEMU ${row.qemu}`);
        }
      process.stdout.write(`through the API: ${compared} pairs, matrix and pre-flight each compared with QEMU\n`);
      expect(compared).toBeGreaterThan(100);
      expect(wrong).toEqual([]);
    } finally {
      await t.close();
    }
  }, 600000);

  it('streams of guests that ran code (test/fixtures/qemu/*-ran.mig.gz) into fresh VMs of the same model', async () => {
    const start = rows.length;
    const dir = join(__dirname, '../fixtures/qemu');
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      fixtures: {
        name: string;
        file: string;
        qemu?: string;
        binary: Binary;
        cpu: string;
        smp: number;
        guest?: string;
      }[];
    };
    const ran = manifest.fixtures.filter((f) => f.guest === 'ran' && existsSync(join(dir, f.file)));
    if (ran.length === 0) process.stdout.write('compat ground truth: no guest-ran fixtures in test/fixtures/qemu\n');
    for (const f of ran) {
      const qemu = f.qemu === '10.0' ? q.q10 : q.q72;
      const dest = await host(qemu, f.binary, f.cpu, 'virt', f.smp);
      const stream = gunzipSync(readFileSync(join(dir, f.file)));
      const info = readStream([stream]);
      const source: Host = {
        ...dest,
        label: f.name,
        stream,
        info,
        cpus: info.cpus.map(arraysOf),
        arrays: arraysOf(info.cpus[0]!),
      };
      await judge(load(`${f.name} → ${dest.label}`, source, dest));
      // And the ran stream with its vCPU 0's TPIDRURW (or DACR) changed alone.
      const id = source.cpus[0]!.cpregIndexes.includes(TPIDRURW) ? TPIDRURW : DACR;
      await judge({
        ...patch(source, `TPIDRURW/DACR changed alone`, new Map([[id, 0x13572468n]]), 0),
        host: dest,
        name: `${f.name} with ${hex(id)} = 0x13572468 → ${dest.label}`,
      });
    }
    expect(
      rows
        .slice(start)
        .filter((r) => !r.agree || r.values.length > 0)
        .map((r) => `${r.name}: predicted ${r.predicted.verdict}, QEMU ${r.qemu} ${r.error} ${r.values.join(', ')}`),
    ).toEqual([]);
  }, 600000);

  it('patched streams (constants, bits not kept, overwritten registers, random values, edited lists): verdicts and values as predicted', async () => {
    const start = rows.length;
    let seed = 1;
    for (const h of [...hosts.values()]) await Promise.all(patchesOf(h, seed++).map(judge));
    const mine = rows.slice(start);
    expect(disagreements(mine)).toEqual([]);
    expect(mine.filter((r) => r.values.length > 0).map((r) => `${r.name}: ${r.values.join(', ')}`)).toEqual([]);
  }, 600000);

  afterAll(() => {
    const agreed = rows.filter((r) => r.agree).length;
    const accepted = rows.filter((r) => r.qemu === 'accepted').length;
    const valuesOk = rows.filter((r) => r.qemu === 'accepted' && r.agree && r.values.length === 0).length;
    const rules = new Map<string, number>();
    for (const r of rows)
      for (const f of [...r.predicted.reasons, ...r.predicted.warnings])
        rules.set(f.rule, (rules.get(f.rule) ?? 0) + 1);
    process.stdout.write(
      `compat ground truth (${q.line72}; ${q.line10}): ${agreed}/${rows.length} verdicts agree ` +
        `(${accepted} accepted by QEMU, ${rows.length - accepted} refused); values as predicted in ${valuesOk}/${accepted} accepted loads ` +
        `(${unpredictable} values a warning called unpredictable not compared); ` +
        `rules seen: ${[...rules].map(([k, v]) => `${k} ${v}`).join(', ')}\n`,
    );
    for (const r of rows.filter((x) => !x.agree || x.values.length > 0)) {
      process.stdout.write(
        `  disagreement: ${r.name}: predicted ${r.predicted.verdict}, QEMU ${r.qemu} ${r.error} ${r.values.join(', ')}\n`,
      );
    }
  });
});
