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
import type { BlobFormat } from '../domain/vmstate/format';
import { UsageError } from './errors';

export const CONVERT_SYNOPSIS = 'FILE.mig --to v23|v22 [-o OUT.mig|-]';

export const CONVERT_DESCRIPTION = `Offline: writes FILE.mig with every cpu section in the given cpreg layout: v22 (QEMU 7.2 …
10.x) or v23 (QEMU with the variable-sized cpregs series). Section versions, the two cpreg
fields and the vmdesc change; nothing else. To v22 is refused for registers wider than 8 bytes.`;

export interface ConvertOptions {
  file: string;
  to: BlobFormat;
  /** The output file, or - for stdout. */
  out: string;
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

/** `cpreg convert` (cli/commands/streams.ts parses the command line). */
export async function convert(o: ConvertOptions, out: (s: string) => void, json = false): Promise<void> {
  if (o.out === '-') {
    if (process.stdout.isTTY)
      throw new UsageError('the output is a binary stream: give -o OUT.mig or redirect stdout', 'cpreg convert --help');
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
    out(json ? JSON.stringify({ file: o.out, to: o.to, ...r }) : `${o.out}: ${summary(r, o.to)}`);
  } catch (e) {
    sink.destroy();
    fs.rmSync(part, { force: true });
    throw e;
  }
}
