import {
  findRegisterModel,
  QEMU_10_0_VERSION,
  QEMU_7_2_VERSION,
  type RegisterModel,
} from '../../domain/register-model';
import { checkSample, sampleIds, type Binary, type CommittedFact } from '../../scripts/probe-register-model';
import { describeWithQemus, QemuRunner, type QemuPair } from './qemu-probe';

/**
 * The committed register model (domain/register-model/*.generated.ts) is fresh: a sample re-measured
 * with the probe's own routines (scripts/probe-register-model.ts) — three models, and in each the
 * whole list with every reset value, and a few registers of each kind (constants in and outside the
 * ID space, 64-bit, 32-bit and partly kept registers, overwritten ones and their writers) — gives the
 * committed facts. Regenerate with scripts/probe-register-model.sh when it does not.
 */
const SAMPLE: { qemu: '7.2' | '10.0'; binary: Binary; cpu: string }[] = [
  { qemu: '7.2', binary: 'qemu-system-aarch64', cpu: 'cortex-a57' },
  { qemu: '10.0', binary: 'qemu-system-aarch64', cpu: 'max' },
  { qemu: '7.2', binary: 'qemu-system-arm', cpu: 'cortex-a15' },
];

function committed(m: RegisterModel): CommittedFact[] {
  return m.facts.map((f) => ({
    id: f.id,
    keep: f.keep,
    reset: f.reset,
    volatile: f.volatile,
    varies: f.varies,
    unstable: f.unstable,
    writers: f.writers,
  }));
}

describeWithQemus('register model freshness', (q: QemuPair) => {
  // One QEMU at a time: the ground-truth suite may run beside this one.
  const runner = new QemuRunner(1);
  afterAll(() => runner.close());

  it('was measured from the QEMUs installed here', () => {
    expect([QEMU_7_2_VERSION, QEMU_10_0_VERSION]).toEqual([q.line72, q.line10]);
  });

  for (const s of SAMPLE) {
    it(`QEMU ${s.qemu} ${s.binary} -cpu ${s.cpu}: a re-measured sample equals the committed facts`, async () => {
      const m = findRegisterModel({ qemu: s.qemu, cpu: s.cpu, binary: s.binary });
      expect(m).toBeDefined();
      const facts = committed(m!);
      const ids = sampleIds(facts);
      expect(ids.length).toBeGreaterThanOrEqual(6);
      const qemu = s.qemu === '7.2' ? q.q72 : q.q10;
      const diffs = await checkSample(runner, { qemu, binary: s.binary, cpu: s.cpu, machine: 'virt' }, facts, ids);
      expect(diffs).toEqual([]);
    }, 300000);
  }
});
