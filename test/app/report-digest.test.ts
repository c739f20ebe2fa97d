import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { nativeDigest } from '../../app/report-digest';
import { vcpuAggregate } from '../../app/vcpu-aggregate';
import { decide, digestOfMessage, foldEvents, paddedLength, type VcpuCommand } from '../../domain/vcpu';
import { reportBytes } from '../../domain/vcpu/report-digest';
import { kvmList } from '../helpers/kvm-list';

/** A message of n words as the decider makes one: paddedLength(n) long, zero after n. */
function message(words: readonly number[]): Int32Array {
  const m = new Int32Array(paddedLength(words.length));
  m.set(words);
  return m;
}

test("node:crypto's digest of a report message is the domain's own SHA-256, for every length", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 300 }), (words) => {
      const ours = digestOfMessage(message(words), words.length);
      expect(nativeDigest(message(words), words.length)).toBe(ours);
      // and both are the SHA-256 of the words' big-endian bytes
      const bytes = Buffer.alloc(4 * words.length);
      words.forEach((w, k) => bytes.writeInt32BE(w, 4 * k));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(ours);
    }),
    { numRuns: 500 },
  );
});

test('given a vCPU, a sync decided by the service (node:crypto) records the report digest the pure decider records', () => {
  const { ids } = kvmList();
  const state = foldEvents(undefined, decide({ type: 'CreateVcpu', accelerator: 'kvm', registers: ids }, undefined))!;
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(state.arrays.cpregIndexes.length - 1), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), {
        minLength: 1,
        maxLength: 40,
      }),
      (picks) => {
        const pairs = [...new Map(picks.map(([i, v]) => [state.arrays.cpregIndexes[i]!, v])).entries()];
        const words = new Uint32Array(4 * pairs.length);
        pairs.forEach(([id, v], k) =>
          words.set([Number(id >> 32n), Number(id & 0xffffffffn), Number(v >> 32n), Number(v & 0xffffffffn)], 4 * k),
        );
        for (const values of [pairs, { kind: 'words' as const, n: pairs.length, words }]) {
          const command: VcpuCommand = { type: 'SyncFromAccelerator', values };
          const [viaService] = vcpuAggregate.decide(command, state);
          expect(viaService).toEqual(decide(command, state)[0]);
          const sorted = [...pairs].sort((a, b) => (a[0] < b[0] ? -1 : 1));
          const digest = createHash('sha256')
            .update(reportBytes({ ids: sorted.map((p) => p[0]), values: sorted.map((p) => p[1]) }))
            .digest('hex');
          expect(viaService).toMatchObject({ reportSha256: digest });
        }
      },
    ),
    { numRuns: 300 },
  );
});
