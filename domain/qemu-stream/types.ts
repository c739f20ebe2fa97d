import type { BlobFormat } from '../vmstate/format';
import type { RamBlock } from './ram';
import type { Vmdesc } from './vmdesc';

/** A START or FULL section header (PART/END are only counted: a multi-GB stream has many). */
export interface SectionInfo {
  kind: 'start' | 'full';
  sectionId: number;
  idstr: string;
  instanceId: number;
  version: number;
  /** Absolute offset of the section's type byte. */
  offset: number;
}

/** One vCPU's cpreg list as found in its `cpu` section. */
export interface CpuCpregBlock {
  /** The section's instance id = QEMU's cpu_index. */
  instance: number;
  /** The `cpu` section's version: 22, or 23 (the seed's series). */
  version: number;
  /** The layout of its cpreg fields, and so of `block`: v22 for version 22, v23 for 23. */
  format: BlobFormat;
  sectionId: number;
  /** Absolute offset of the `cpu` section's type byte. */
  sectionOffset: number;
  /** Absolute offset of the block (the be32 N of `cpreg_vmstate_array_len`). */
  blockOffset: number;
  /** N: registers (`cpreg_vmstate_array_len`). */
  n: number;
  /** M: value slots (`cpreg_vmstate_value_array_len` in v23; N in v22). */
  m: number;
  /**
   * The cpreg fields' bytes exactly (a copy): a v22 blob (be32 N, N × be64 id, N × be64 value)
   * or a v23 blob (be32 N, be32 M, N × be64 id, M × be64 value, N × be32 value index).
   */
  block: Uint8Array;
  indexes: BigUint64Array;
  /** The M value slots, as in the stream (v22: one per register). */
  values: BigUint64Array;
  /** Register i's first slot: v23 as in the stream (not checked here: decode the block), v22 i. */
  valueIndexes: Uint32Array;
}

export interface StreamInfo {
  /** Machine type from the configuration section (e.g. "virt-7.2"), null if the stream has none. */
  machine: string | null;
  pageSize: number;
  targetPageBits: number | undefined;
  capabilities: string[];
  totalBytes: number;
  sections: SectionInfo[];
  partSections: number;
  ramBlocks: RamBlock[];
  ramPages: number;
  ramZeroPages: number;
  cpus: CpuCpregBlock[];
  vmdesc: Vmdesc;
  /** Absolute offset of the EOF byte (0x00) and of the vmdesc marker (0x06). */
  eofOffset: number;
  vmdescOffset: number;
}
