/**
 * The offline verifier reads an export as bytes in 4 MiB reads: lines that straddle two reads,
 * CRLF line ends, a last line without its newline, and malformed heads must all be judged as the
 * line-by-line reading judged them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { canonicalEventText, chainHash, GENESIS_HASH } from '../../storage/canonical';
import { generateSigningKey, signCheckpoint, signingKeyFromPem } from '../../storage/audit/checkpoint';
import { exportLine, verifyExport } from '../../storage/audit/export';
import { leafHash, MerkleTree } from '../../storage/audit/merkle';

const N = 15_000; // ~6 MB: more than one read
let dir: string;
let lines: string[];
const key = signingKeyFromPem(generateSigningKey().privatePem);
let cp: ReturnType<typeof signCheckpoint>;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-export-scan-'));
  const tree = new MerkleTree();
  let prev: Buffer = GENESIS_HASH;
  lines = [];
  for (let p = 1; p <= N; p++) {
    const text = canonicalEventText({
      position: p,
      streamId: `vm${p % 7}.cpu0 é`, // a multi-byte character: bytes, not UTF-16 units, are hashed
      version: Math.floor(p / 7) + 1,
      type: 'RegistersWritten',
      schemaVersion: 1,
      dataText: `{"ids":["0x603000000013de82"],"values":["0x${p.toString(16).padStart(16, '0')}"],"pad":"${'x'.repeat(p % 300)}"}`,
      metadataText: '{"actor":"t","recordedAt":"2026-01-01T00:00:00.000Z"}',
    });
    prev = chainHash(prev, text);
    tree.appendLeafHash(leafHash(text));
    lines.push(exportLine(p, prev.toString('hex'), text));
  }
  cp = signCheckpoint(
    {
      treeSize: N,
      rootHash: tree.root().toString('hex'),
      chainHead: prev.toString('hex'),
      time: '2026-01-01T00:00:00Z',
    },
    key,
  );
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const verify = (content: string) => {
  const f = path.join(dir, `e-${Math.random()}.jsonl`);
  fs.writeFileSync(f, content);
  return verifyExport(f, key.publicKey, cp);
};

test('intact: as written, with CRLF line ends, without the last newline, with blank lines', async () => {
  const whole = lines.join('');
  expect(Buffer.byteLength(whole)).toBeGreaterThan(4 << 20);
  for (const content of [whole, whole.replace(/\n/g, '\r\n'), whole.slice(0, -1), whole.replace(/\n/, '\n\n')]) {
    const v = await verify(content);
    expect(v.detail).toMatch(/^intact: 15000 events/);
    expect(v.ok).toBe(true);
  }
});

test('one byte changed anywhere (also across a read boundary) fails at its position', async () => {
  for (const p of [1, 9_000, 12_345, N]) {
    const edited = [...lines];
    edited[p - 1] = edited[p - 1]!.replace('"actor":"t"', '"actor":"u"');
    const v = await verify(edited.join(''));
    expect(v.ok).toBe(false);
    expect(v.firstBadPosition).toBe(p);
  }
});

test('malformed heads are not export lines', async () => {
  const bad = [
    lines[1]!.replace(/"hash":"([0-9a-f]{64})"/, (_, h: string) => `"hash":"${h.toUpperCase()}"`),
    lines[1]!.replace('{"position":2,', '{"position":x2,'),
    lines[1]!.replace('","event":', '","evnt":'),
  ];
  for (const b of bad) {
    const v = await verify(lines[0]! + b + lines.slice(2).join(''));
    expect(v.ok).toBe(false);
    expect(v.detail).toBe('line 2 is not an export line');
  }
});

test('deleted, reordered and truncated', async () => {
  expect((await verify(lines.filter((_, i) => i !== 99).join(''))).detail).toMatch(/position 100 is missing/);
  const swapped = [...lines];
  [swapped[10], swapped[11]] = [swapped[11]!, swapped[10]!];
  expect((await verify(swapped.join(''))).firstBadPosition).toBe(11);
  expect((await verify(lines.slice(0, N - 1).join(''))).detail).toMatch(/rolled back or truncated/);
});
