/**
 * `cpreg convert FILE.mig --to v23|v22 [-o OUT.mig|-]` — offline: the stream with its `cpu`
 * sections in the other cpreg layout (domain/qemu-stream StreamConverter; docs/qemu-streams.md).
 * Streams the file: RAM is written out as it is read, only the device tail is held.
 *
 * Output: `-o OUT` writes OUT.part and renames it to OUT only once the whole stream is converted
 * (a refusal leaves no OUT). `-o -`, or no -o, writes to stdout (not to a terminal): since a
 * refusal can only be found at the end of the stream, the file is first read once without
 * output, so a refused stream writes nothing. Exit status 0 ok, 1 error, 2 usage error.
 */
import * as fs from 'fs';
import { StreamConverter } from '../domain/qemu-stream';
import { isBlobFormat, type BlobFormat } from '../domain/vmstate/format';

export const CONVERT_USAGE = `usage: cpreg convert FILE.mig --to v23|v22 [-o OUT.mig|-]

  Offline: writes FILE.mig with every cpu section in the given cpreg layout: v22 (QEMU 7.2 …
  10.x) or v23 (QEMU with the variable-sized cpregs series). Section versions, the two cpreg
  fields and the vmdesc change; nothing else. To v22 is refused for registers wider than 8 bytes.

  --to v23|v22   the layout to write
  -o OUT.mig     the output file (written as OUT.mig.part, renamed when complete);
                 - or no -o: stdout (not a terminal)
  -h, --help     this text`;

class ConvertUsage extends Error {}

interface ConvertOptions {
  file: string;
  to: BlobFormat;
  out: string;
}

function parse(argv: string[]): ConvertOptions | 'help' {
  if (argv.includes('-h') || argv.includes('--help')) return 'help';
  let to: string | undefined;
  let out: string | undefined;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = /^(--[a-z-]+)=(.*)$/.exec(a);
    const flag = eq ? eq[1]! : a;
    const take = (): string => {
      if (eq) return eq[2]!;
      const v = argv[++i];
      if (v === undefined || (v.startsWith('-') && v !== '-')) throw new ConvertUsage(`${flag} needs a value`);
      return v;
    };
    if (flag === '--to') to = take();
    else if (flag === '-o' || flag === '--output') out = take();
    else if (a.startsWith('-') && a !== '-') throw new ConvertUsage(`unknown option ${a}`);
    else files.push(a);
  }
  if (files.length !== 1) throw new ConvertUsage('convert takes exactly one FILE.mig');
  if (to === undefined) throw new ConvertUsage('convert needs --to v23 or --to v22');
  if (!isBlobFormat(to)) throw new ConvertUsage(`--to must be v23 or v22, got ${JSON.stringify(to)}`);
  return { file: files[0]!, to, out: out ?? '-' };
}

const READ_BUFFER = 1024 * 1024;

async function openInput(file: string): Promise<fs.promises.FileHandle> {
  try {
    return await fs.promises.open(file, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, { cause: e });
  }
}

/** Runs the file through a converter; `write` gets each output chunk (views of fresh read buffers). */
async function run(
  file: string,
  to: BlobFormat,
  write: (c: Uint8Array) => void | Promise<void>,
): Promise<{ bytesIn: number; bytesOut: number; converted: number; cpus: number }> {
  const fh = await openInput(file);
  try {
    if (!(await fh.stat()).isFile()) throw new Error(`${file}: not a regular file`);
    const conv = new StreamConverter(to);
    let bytesIn = 0;
    let bytesOut = 0;
    const emit = async (chunks: Uint8Array[]) => {
      for (const c of chunks) {
        bytesOut += c.length;
        await write(c);
      }
    };
    for (;;) {
      // A fresh buffer per read: the converter's output may be views of it until written.
      const buf = Buffer.allocUnsafe(READ_BUFFER);
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      bytesIn += bytesRead;
      await emit(conv.push(buf.subarray(0, bytesRead)));
    }
    await emit(conv.end());
    return { bytesIn, bytesOut, converted: conv.convertedSections, cpus: conv.info!.cpus.length };
  } finally {
    await fh.close();
  }
}

/** A write to a Node stream that waits when its buffer is full. */
function writerOf(s: NodeJS.WritableStream): (c: Uint8Array) => Promise<void> | void {
  return (c) => {
    if (s.write(c)) return;
    return new Promise<void>((resolve, reject) => {
      const done = (err?: unknown) => {
        s.removeListener('drain', done);
        s.removeListener('error', done);
        if (err) reject(err instanceof Error ? err : new Error(String(err)));
        else resolve();
      };
      s.on('drain', done);
      s.on('error', done);
    });
  };
}

function summary(r: { bytesIn: number; bytesOut: number; converted: number; cpus: number }, to: BlobFormat): string {
  return r.converted
    ? `${r.converted} of ${r.cpus} cpu section${r.cpus === 1 ? '' : 's'} converted to ${to}, ${r.bytesIn} → ${r.bytesOut} bytes`
    : `already ${to} (${r.cpus} cpu section${r.cpus === 1 ? '' : 's'}): written unchanged, ${r.bytesOut} bytes`;
}

async function convert(o: ConvertOptions, out: (s: string) => void): Promise<void> {
  if (o.out === '-') {
    if (process.stdout.isTTY)
      throw new ConvertUsage('the output is a binary stream: give -o OUT.mig or redirect stdout');
    await run(o.file, o.to, () => undefined); // finds any refusal before a byte is written
    await run(o.file, o.to, writerOf(process.stdout));
    return;
  }
  await (await openInput(o.file)).close(); // no output file for a missing input
  const part = `${o.out}.part`;
  const sink = fs.createWriteStream(part);
  await new Promise<void>((resolve, reject) => {
    sink.once('open', () => resolve());
    sink.once('error', (e) => reject(new Error(`${o.out}: ${e.message}`)));
  });
  try {
    const r = await run(o.file, o.to, writerOf(sink));
    await new Promise<void>((resolve, reject) =>
      sink.end((e?: Error | null) => (e ? reject(new Error(`${o.out}: ${e.message}`)) : resolve())),
    );
    fs.renameSync(part, o.out);
    out(`${o.out}: ${summary(r, o.to)}`);
  } catch (e) {
    sink.destroy();
    fs.rmSync(part, { force: true });
    throw e;
  }
}

/** `cpreg convert …` (argv after the command name); returns the exit status. */
export async function runConvert(argv: string[]): Promise<number> {
  const out = (s: string) => process.stdout.write(s + '\n');
  try {
    const o = parse(argv);
    if (o === 'help') {
      out(CONVERT_USAGE);
      return 0;
    }
    await convert(o, out);
    return 0;
  } catch (e) {
    const usage = e instanceof ConvertUsage;
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`cpreg: ${msg.replace(/\s*\n\s*/g, ' ')}${usage ? ' (cpreg convert --help)' : ''}\n`);
    return usage ? 2 : 1;
  }
}
