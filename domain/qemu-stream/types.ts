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
  version: number;
  sectionId: number;
  /** Absolute offset of the `cpu` section's type byte. */
  sectionOffset: number;
  /** Absolute offset of the block (the be32 N of `cpreg_vmstate_array_len`). */
  blockOffset: number;
  n: number;
  /** Exactly a v22 blob: be32 N, N × be64 index, N × be64 value (a copy, 4 + 16N bytes). */
  block: Uint8Array;
  indexes: BigUint64Array;
  values: BigUint64Array;
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
