/**
 * Reading a QEMU migration stream offline (`cpreg inspect`, the rewrite's pre-check): the file goes
 * through the pure streaming reader (domain/qemu-stream) in one reused 256 KiB buffer, RAM pages
 * parsed and skipped, so memory stays flat for multi-GB streams. Loads nothing of HTTP.
 */
import * as fs from 'fs';
import { registerName } from '../domain/names';
import { StreamReader, type StreamInfo } from '../domain/qemu-stream';
import { formatRegId } from '../domain/regid';
import { formatValue } from '../domain/values';
import { CliError } from './errors';

// 256 KiB: half the read calls of 128 KiB, and small enough to stay in the core's L2 cache
// (measured on a 2 GB stream: a little faster than both 128 KiB and 1 MiB)
const READ_BUFFER = 256 * 1024;

/** Reads a stream file with one reused buffer (the fastest way Node has; see docs/qemu-streams.md). */
export function inspectFile(file: string, onProgress?: (done: number) => void): StreamInfo {
  const fd = openFile(file);
  try {
    const reader = new StreamReader();
    const buf = Buffer.allocUnsafe(READ_BUFFER);
    let done = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      reader.push(n === buf.length ? buf : buf.subarray(0, n));
      done += n;
      onProgress?.(done);
    }
    return reader.end();
  } finally {
    fs.closeSync(fd);
  }
}

/** The same from a Node stream (`cpreg inspect -` reads stdin). */
export async function inspectStream(input: NodeJS.ReadableStream): Promise<StreamInfo> {
  const reader = new StreamReader();
  for await (const chunk of input) reader.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return reader.end();
}

export function openFile(file: string): number {
  try {
    const fd = fs.openSync(file, 'r');
    if (!fs.fstatSync(fd).isFile()) {
      fs.closeSync(fd);
      throw new CliError(`${file}: not a regular file`);
    }
    return fd;
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(
      `${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    );
  }
}

export function fileSize(file: string): number {
  const fd = openFile(file);
  try {
    return fs.fstatSync(fd).size;
  } finally {
    fs.closeSync(fd);
  }
}

export function humanInspection(file: string, info: StreamInfo): string {
  const lines = [
    `${file}: ${info.totalBytes} bytes, machine ${info.machine ?? '(none)'}, page size ${info.pageSize}, ${info.cpus.length} vCPU${info.cpus.length === 1 ? '' : 's'}`,
  ];
  for (const c of info.cpus) {
    lines.push(
      `cpu ${c.instance}: ${c.n} registers (cpu section version ${c.version}, block at byte ${c.blockOffset})`,
    );
    const names = Array.from(c.indexes, (id) => registerName(id, 'tcg'));
    const w = Math.max(0, ...names.map((n) => n.length));
    c.indexes.forEach((id, i) =>
      lines.push(`  ${formatRegId(id)}  ${names[i]!.padEnd(w)}  ${formatValue(id, c.values[i]!)}`),
    );
  }
  return lines.join('\n');
}
