import { ByteSource, ascii, be32, copyOf, malformed } from './bytes';
import { SUBSECTION } from './constants';

/** What the configuration section (0x07, `vmstate_configuration`, reference §6.2) tells us. */
export interface StreamConfig {
  machine: string;
  /** From `configuration/target-page-bits`, else undefined (the reader then uses Arm's 10). */
  targetPageBits?: number;
  capabilities: string[];
  uuid?: Uint8Array;
}

/**
 * Parses the body after the 0x07 byte: be32 len + machine name. Atomic: returns null (consuming
 * nothing) when the source does not hold all of it yet.
 */
export function tryReadConfigHead(src: ByteSource): string | null {
  const h = src.view(4);
  if (!h) return null;
  const len = be32(h, 0);
  if (len > 256) throw malformed(src.offset, `configuration machine-name length ${len} is implausible (max 256)`);
  const b = src.view(4 + len);
  if (!b) return null;
  const name = ascii(b, 4, len);
  src.advance(4 + len);
  return name;
}

/**
 * One subsection of the configuration section, or 'none' when the next byte is not 0x05 (the
 * section is over), or null when more bytes are needed. Unknown subsections are refused: their
 * length is not knowable, and QEMU itself refuses them (-ENOENT).
 */
export function tryReadConfigSubsection(src: ByteSource, cfg: StreamConfig): 'read' | 'none' | null {
  const start = src.offset;
  const t = src.view(1);
  if (!t) return null;
  if (t[0] !== SUBSECTION) return 'none';
  const h = src.view(2);
  if (!h) return null;
  const nameLen = h[1]!;
  const hv = src.view(2 + nameLen + 4);
  if (!hv) return null;
  const name = ascii(hv, 2, nameLen);
  const version = be32(hv, 2 + nameLen);
  const bodyAt = 2 + nameLen + 4;
  if (version !== 1) throw malformed(start, `configuration subsection "${name}" has version ${version}, expected 1`);
  switch (name) {
    case 'configuration/target-page-bits': {
      const b = src.view(bodyAt + 4);
      if (!b) return null;
      const bits = be32(b, bodyAt);
      if (bits < 10 || bits > 16) throw malformed(start + bodyAt, `target-page-bits ${bits} out of range 10..16`);
      cfg.targetPageBits = bits;
      src.advance(bodyAt + 4);
      return 'read';
    }
    case 'configuration/uuid': {
      const b = src.view(bodyAt + 16);
      if (!b) return null;
      cfg.uuid = copyOf(b, bodyAt, bodyAt + 16);
      src.advance(bodyAt + 16);
      return 'read';
    }
    case 'configuration/capabilities': {
      let b = src.view(bodyAt + 4);
      if (!b) return null;
      const count = be32(b, bodyAt);
      if (count > 64) throw malformed(start + bodyAt, `capability count ${count} is implausible (max 64)`);
      // Measure the whole list before consuming anything, so the step stays atomic.
      let end = bodyAt + 4;
      const caps: string[] = [];
      for (let i = 0; i < count; i++) {
        b = src.view(end + 1);
        if (!b) return null;
        const len = b[end]!;
        b = src.view(end + 1 + len);
        if (!b) return null;
        caps.push(ascii(b, end + 1, len));
        end += 1 + len;
      }
      cfg.capabilities = caps;
      src.advance(end);
      return 'read';
    }
    default:
      throw malformed(
        start,
        `unknown configuration subsection "${name}" (expected target-page-bits, capabilities or uuid)`,
      );
  }
}
