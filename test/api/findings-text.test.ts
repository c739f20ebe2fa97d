import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { ByteWriter } from '../../api/byte-writer';
import { findingsText, findingView, writeFindings } from '../../api/finding-view';
import type { Finding, FindingRegister } from '../../app/fleet';
import { decide, foldEvents } from '../../domain/vcpu';
import { decodeV22 } from '../../domain/vmstate/v22';

// A real QEMU 7.2 `-cpu max` list (TCG): named, generic and AArch32 registers.
const FIXTURE = path.resolve(__dirname, '../fixtures/qemu/aarch64-max-smp2.cpu0.v22.bin');
const ids = [...decodeV22(fs.readFileSync(FIXTURE)).cpregIndexes];
const state = foldEvents(undefined, decide({ type: 'CreateVcpu', accelerator: 'tcg', registers: ids }, undefined))!;

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
// a register of the list, or one it lacks (a finding may name either: unknown-register)
const regId = fc.oneof(fc.constantFrom(...ids), u64);
const register: fc.Arbitrary<FindingRegister> = fc.record(
  {
    id: regId,
    basis: fc.constantFrom('measured', 'rule', 'kvm-writable-mask'),
    incoming: u64,
    destination: u64,
    keeps: u64,
    becomes: u64,
    by: regId,
  },
  { requiredKeys: ['id'] },
);
const finding: fc.Arbitrary<Finding> = fc.record(
  {
    rule: fc.constantFrom('constant-differs', 'bits-not-kept', 'overwritten-on-load', 'more-registers'),
    message: fc.string(),
    count: fc.nat(1000),
    registers: fc.array(register, { maxLength: 8 }),
  },
  { requiredKeys: ['rule', 'message', 'registers'] },
);

test('findingsText is the JSON text of the findings as findingView shapes them', () => {
  fc.assert(
    fc.property(fc.array(finding, { maxLength: 4 }), (findings) => {
      expect(findingsText(state, findings)).toBe(JSON.stringify(findings.map((f) => findingView(state, f))));
    }),
    { numRuns: 300 },
  );
});

test('a register named again is written from the same text (the per-list cache answers it)', () => {
  const f: Finding = { rule: 'constant-differs', message: 'm', registers: [{ id: ids[0]! }, { id: ids[0]! }] };
  const text = findingsText(state, [f]);
  expect(JSON.parse(text)[0].registers[0]).toEqual(JSON.parse(text)[0].registers[1]);
  expect(text).toBe(JSON.stringify([findingView(state, f)]));
});

test('writeFindings writes the UTF-8 of findingsText (a small writer grows as it must)', () => {
  fc.assert(
    fc.property(fc.array(finding, { maxLength: 4 }), fc.integer({ min: 1, max: 64 }), (findings, size) => {
      const w = new ByteWriter(size);
      writeFindings(w, state, findings);
      expect(Buffer.from(w.done()).equals(Buffer.from(findingsText(state, findings), 'utf8'))).toBe(true);
    }),
    { numRuns: 300 },
  );
});
