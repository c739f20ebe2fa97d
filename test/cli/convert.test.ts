import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { layoutArrays } from '../../domain/cpreg-arrays';
import { convertStream } from '../../domain/qemu-stream';
import { concat, stream } from '../domain/qemu-stream/helpers';
import { allCpusAs, withCpuBlock } from '../domain/qemu-stream/layouts';
import { syntheticStream } from '../domain/qemu-stream/synthetic';
import { runCpreg } from '../helpers/cli';

/** `cpreg convert` (cli/convert.ts), offline, as users run it: the built bin. */

const ROOT = path.resolve(__dirname, '..', '..');
let dir = '';
let mig = '';

beforeAll(() => {
  try {
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 120000 });
  } catch (e) {
    // tsc emits even with type errors (others may be mid-edit); only a missing CLI is fatal
    if (!fs.existsSync(path.join(ROOT, 'dist/cli/cpreg.js'))) throw e;
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpreg-convert-'));
  mig = path.join(dir, 'max.mig');
  fs.writeFileSync(mig, stream('aarch64-max-smp2'));
}, 180000);

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** stdout as bytes: runCpreg decodes text, so binary output goes through a file here. */
function runToFile(args: string[]): { code: number | null; stderr: string; out: Buffer } {
  const outFile = path.join(dir, `stdout.${process.hrtime.bigint()}`);
  const fd = fs.openSync(outFile, 'w');
  let code: number | null = 0;
  let stderr = '';
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'bin/cpreg.js'), ...args], { stdio: ['ignore', fd, 'pipe'] });
  } catch (e) {
    const err = e as { status: number | null; stderr: Buffer };
    code = err.status;
    stderr = err.stderr.toString();
  } finally {
    fs.closeSync(fd);
  }
  return { code, stderr, out: fs.readFileSync(outFile) };
}

test('--to v23 -o OUT writes the converted stream and says so', async () => {
  const out = path.join(dir, 'max23.mig');
  const r = await runCpreg(['convert', mig, '--to', 'v23', '-o', out]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const expected = concat(convertStream([stream('aarch64-max-smp2')], 'v23').output);
  expect(r.stdout).toBe(`${out}: 2 of 2 cpu sections converted to v23, 516571 → ${expected.length} bytes\n`);
  expect(fs.readFileSync(out).equals(expected)).toBe(true);
  expect(fs.existsSync(`${out}.part`)).toBe(false);
  // and back, to stdout
  const back = runToFile(['convert', out, '--to', 'v22']);
  expect(back.code).toBe(0);
  expect(back.out.equals(stream('aarch64-max-smp2'))).toBe(true);
  const same = await runCpreg(['convert', mig, '--to=v22', '-o', path.join(dir, 'same.mig')]);
  expect(same.stdout).toMatch(/already v22 \(2 cpu sections\): written unchanged, 516571 bytes/);
});

test('a refusal writes nothing: no OUT, nothing on stdout; exit 1 with the reason', async () => {
  const base = allCpusAs(concat([...syntheticStream({ ramBytes: 64 * 1024 })]), 'v23');
  const wide = path.join(dir, 'wide.mig');
  fs.writeFileSync(wide, withCpuBlock(base, 1, layoutArrays(BigUint64Array.from([0x6040000000140000n])), 'v23'));
  const out = path.join(dir, 'wide22.mig');
  const r = await runCpreg(['convert', wide, '--to', 'v22', '-o', out]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(
    /^cpreg: a v22 cpu section cannot carry registers wider than 8 bytes .*cpu 1: 0x6040000000140000\n$/,
  );
  expect(fs.existsSync(out)).toBe(false);
  expect(fs.existsSync(`${out}.part`)).toBe(false);
  const toStdout = runToFile(['convert', wide, '--to', 'v22', '-o', '-']);
  expect(toStdout.code).toBe(1);
  expect(toStdout.out.length).toBe(0);
  expect(toStdout.stderr).toMatch(/cpu 1: 0x6040000000140000/);
});

test('usage errors exit 2; a missing file exits 1', async () => {
  for (const args of [
    ['convert', mig],
    ['convert', mig, '--to', 'v21'],
    ['convert', '--to', 'v23'],
    ['convert', mig, '--to', 'v23', '--vm', 'x'],
  ]) {
    const r = await runCpreg(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^cpreg: .*\(cpreg convert --help\)\n$/);
  }
  const missing = await runCpreg(['convert', path.join(dir, 'nope.mig'), '--to', 'v23', '-o', path.join(dir, 'x.mig')]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toBe(`cpreg: ${path.join(dir, 'nope.mig')}: no such file\n`);
  expect(fs.existsSync(path.join(dir, 'x.mig.part'))).toBe(false);
  const help = await runCpreg(['convert', '--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toMatch(/^usage: cpreg convert FILE.mig --to v23\|v22/);
  expect((await runCpreg(['--help'])).stdout).toMatch(/cpreg convert FILE.mig --to v23\|v22/);
});
