/**
 * QEMU (7.2 … 10.x, and v23 cpu sections) migration stream reader, cpreg rewriter and layout
 * converter — pure, streaming, no I/O.
 *
 * Stream layout (docs/qemu-streams.md, reference/qemu-cpreg.md §6): "QEVM", be32 3, the
 * configuration section (0x07), START/PART/END/FULL sections each with a 0x7e footer, COMMANDs,
 * EOF 0x00, then 0x06 + be32 len + vmdesc JSON ending the stream. RAM records are parsed and their
 * pages skipped without copying (memory stays flat for multi-GB streams). Device sections have no
 * length, so everything from the first device section on (bounded, 64 MiB default) is buffered
 * and walked with the vmdesc when the stream ends.
 *
 * Reading:
 *   const r = new StreamReader(opts?: { maxDeviceBytes?: number });
 *   r.push(chunk: Uint8Array): void        // any chunk sizes; the buffer may be reused once push returns
 *   r.end(): StreamInfo                    // machine, pageSize, sections, RAM blocks, cpus[], vmdesc
 *   readStream(chunks: Iterable<Uint8Array>, opts?): StreamInfo
 *   readStreamAsync(chunks: AsyncIterable<Uint8Array>, opts?): Promise<StreamInfo>
 *   StreamInfo.cpus[i]: CpuCpregBlock { instance, version (22|23), format ('v22'|'v23'), sectionId,
 *     sectionOffset, blockOffset, n, m, block /* a blob of `format` *\/, indexes, values (M slots),
 *     valueIndexes }; cpuArrays(cpu) views them as CpregArrays (readValueAt works on either layout)
 *
 * Rewriting (byte-identical output when the callback returns the same values):
 *   const w = new StreamRewriter((instance, indexes, values) => newValues, opts?);
 *   w.push(chunk): Uint8Array[]   // output so far (RAM passes through as subarrays of the input:
 *                                 // write them out before reusing that input buffer)
 *   w.end(): Uint8Array[]         // the rest: the device tail with cpreg values replaced
 *   w.info: StreamInfo            // summary of the input, after end()
 *   rewriteStream(chunks, rewrite, opts?): { output: Uint8Array[]; info: StreamInfo }
 *
 * Converting between the v22 and v23 cpu layouts (section versions, the two cpreg fields, the
 * vmdesc entry and length; nothing else), streaming like the rewriter:
 *   const c = new StreamConverter('v23' | 'v22', opts?);  c.push(chunk) / c.end() / c.info
 *   convertStream(chunks, to, opts?): { output, info, convertedSections }
 *
 * Every refusal is DomainError('malformed-blob', "at byte N: …") naming the absolute offset and
 * what was expected there (truncation, bad magic/footer/flags, vmdesc mismatch, oversize state).
 * A rewrite callback returning the wrong length gets DomainError('invalid-value').
 */
export { StreamReader, readStream, readStreamAsync } from './reader';
export type { ReaderOptions } from './reader';
export { StreamRewriter, rewriteStream } from './rewriter';
export type { CpregValuesRewrite } from './rewriter';
export { StreamConverter, convertStream } from './converter';
export { blockLayout, cpuArrays } from './device-walk';
export type { CpuCpregBlock, SectionInfo, StreamInfo } from './types';
export type { RamBlock } from './ram';
export type { Vmdesc, VmdescDevice, VmdescField, VmdescVmsd } from './vmdesc';
export { DEFAULT_MAX_DEVICE_BYTES } from './constants';
