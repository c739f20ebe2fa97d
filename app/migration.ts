import { createHash } from 'crypto';
import type { BlobFormat } from '../domain/vmstate/format';
import { checkLoad, exportBlob, type VcpuState } from '../domain/vcpu';
import type { MetadataInput } from '../storage/event-store';
import type { VcpuCommands } from './vcpu-aggregate';
import { PreconditionFailedError, Refused, refusing } from './errors';
import { checkOnVcpu } from './vcpu-compatibility';
import { decodeBlob } from '../domain/vmstate/format';
import type { VcpuQueries } from './vcpu-queries';

export const sha256Hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export interface Exported {
  id: string;
  blob: Uint8Array;
  sha256: string;
  /** The version the blob was made from. */
  version: number;
  /** The version after the export was recorded (the same when it was not recorded). */
  recordedVersion: number;
}

/** Export and pre-flight of migration blobs. */
export class Migrations {
  constructor(
    private readonly queries: VcpuQueries,
    private readonly commands: VcpuCommands,
  ) {}

  /**
   * The blob of the vCPU's current registers. With `record`, the export is recorded (who,
   * format, sha256), based on the version the blob was made from, so the recorded hash is of
   * this very blob: a write in between makes it start again.
   */
  async export(
    id: string,
    format: BlobFormat,
    opts: { record: false } | { record: true; metadata: MetadataInput },
  ): Promise<Exported> {
    for (let attempt = 0; ; attempt++) {
      const { version, state } = await this.queries.get(id);
      const blob = refusing(state.accelerator, undefined, () => exportBlob(state, format));
      const digest = sha256Hex(blob);
      if (!opts.record) return { id, blob, sha256: digest, version, recordedVersion: version };
      // The same blob exported again with nothing recorded since is not recorded again: who took
      // it first is on record, and a reader cannot grow the history without a writer.
      if (await this.queries.lastIsExportOf(id, version, format, digest)) {
        return { id, blob, sha256: digest, version, recordedVersion: version };
      }
      try {
        const out = await this.commands.execute(
          [
            {
              streamId: id,
              command: { type: 'RecordExport', format, sha256: digest, byteLength: blob.length },
              condition: { match: [version] },
            },
          ],
          { metadata: opts.metadata, answer: (d) => d[0]!.version },
        );
        return { id, blob, sha256: digest, version, recordedVersion: out.answer } satisfies Exported;
      } catch (e) {
        if (!(e instanceof PreconditionFailedError) || attempt >= 9) throw e;
      }
    }
  }

  /**
   * The pre-flight: what loading `blob` would do to the vCPU now, and QEMU's verdict on loading it
   * into the vCPU's own QEMU (the matrix's: app/vcpu-compatibility.ts); records nothing. A blob the
   * merge refuses is refused (422) with that verdict attached.
   */
  async check(id: string, format: BlobFormat, blob: Uint8Array) {
    const { version, state } = await this.queries.get(id);
    const incoming = refusing(state.accelerator, undefined, () => decodeBlob(format, blob));
    const prediction = checkOnVcpu(state, incoming);
    try {
      const plan = refusing(state.accelerator, undefined, () => checkLoad(state, { format, blob }));
      return { id, version, state: state as VcpuState, plan, prediction };
    } catch (e) {
      if (e instanceof Refused) e.prediction = { state, ...prediction };
      throw e;
    }
  }
}
