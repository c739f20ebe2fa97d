/** Byte values of QEMU's migration stream (migration/savevm.h, migration/ram.c; reference §6). */

export const QEVM_MAGIC = 0x5145564d;
export const STREAM_VERSION = 3;

export const SEC_EOF = 0x00;
export const SEC_START = 0x01;
export const SEC_PART = 0x02;
export const SEC_END = 0x03;
export const SEC_FULL = 0x04;
export const SUBSECTION = 0x05;
export const VMDESCRIPTION = 0x06;
export const CONFIGURATION = 0x07;
export const COMMAND = 0x08;
export const SECTION_FOOTER = 0x7e;

/** QEMU_VM_COMMAND numbers we need to recognise. */
export const CMD_POSTCOPY_ADVISE = 3;

export const RAM_FLAG_ZERO = 0x02;
export const RAM_FLAG_MEM_SIZE = 0x04;
export const RAM_FLAG_PAGE = 0x08;
export const RAM_FLAG_EOS = 0x10;
export const RAM_FLAG_CONTINUE = 0x20;
export const RAM_FLAG_XBZRLE = 0x40;
export const RAM_FLAG_HOOK = 0x80;
export const RAM_FLAG_COMPRESS_PAGE = 0x100;
export const XBZRLE_ENCODING = 0x01;

/** TARGET_PAGE_BITS_MIN for Arm: the page size a stream implies when it does not say. */
export const ARM_DEFAULT_PAGE_BITS = 10;

/** Device state is buffered until the vmdesc arrives; refuse tails larger than this. */
export const DEFAULT_MAX_DEVICE_BYTES = 64 * 1024 * 1024;

/**
 * The cpu section's cpreg fields (target/arm/machine.c, vmstate_arm_cpu): version 22 (QEMU 7.2 …
 * master) has N, N ids, N values; version 23 (patch 4/5 of the variable-sized cpregs series)
 * inserts an int32 M after N and appends N uint32 value indexes after the M values.
 */
export const CPU_IDSTR = 'cpu';
export const CPU_V22 = 22;
export const CPU_V23 = 23;
export const FIELD_CPREG_LEN = 'cpreg_vmstate_array_len';
export const FIELD_CPREG_VALUE_LEN = 'cpreg_vmstate_value_array_len';
export const FIELD_CPREG_INDEXES = 'cpreg_vmstate_indexes';
export const FIELD_CPREG_VALUES = 'cpreg_vmstate_values';
export const FIELD_CPREG_VALUE_INDEXES = 'cpreg_vmstate_value_indexes';

export function hex(n: number): string {
  return '0x' + n.toString(16).padStart(2, '0');
}
