import { DomainError } from '../../domain/errors';
import {
  aarch32Fields,
  aarch32Id,
  classOf,
  formatRegId,
  isWellFormed,
  parseRegId,
  RegClass,
  sizeBytes,
  sysregFields,
  sysregId,
} from '../../domain/regid';

describe('register ids', () => {
  test('format is 0x + 16 lowercase hex digits and parses back', () => {
    expect(formatRegId(0x603000000013de82n)).toBe('0x603000000013de82');
    expect(parseRegId('0x603000000013DE82')).toBe(0x603000000013de82n);
    expect(formatRegId(parseRegId('0x40200000200e0000'))).toBe('0x40200000200e0000');
  });

  test.each([
    '603000000013de82',
    '0x603000000013de8',
    '0x603000000013de822',
    '0x60300000001 3de82',
    '',
    '0xzz3000000013de82',
  ])('refuses text that is not an id: %p', (text) => expect(() => parseRegId(text)).toThrow(DomainError));

  test.each([
    ['0x703000000013de82', 'unknown architecture'],
    ['0x609000000013de82', 'size field 9'],
    ['0x603000010013de82', 'bits 51..32 set'],
  ])('refuses malformed id %s (%s)', (text) => {
    expect(() => parseRegId(text)).toThrow(expect.objectContaining({ kind: 'invalid-reg-id' }));
  });

  test('sysreg fields of TPIDR_EL0 (3,3,13,0,2) and back', () => {
    const id = 0x603000000013de82n;
    expect(sysregFields(id)).toEqual({ op0: 3, op1: 3, crn: 13, crm: 0, op2: 2 });
    expect(sysregId({ op0: 3, op1: 3, crn: 13, crm: 0, op2: 2 })).toBe(id);
    expect(classOf(id)).toBe(RegClass.SYSREG);
    expect(sizeBytes(id)).toBe(8);
  });

  test('sizes from U8 to U2048', () => {
    for (let n = 0; n <= 8; n++) {
      const id = 0x6000000000140000n | (BigInt(n) << 52n);
      expect(isWellFormed(id)).toBe(true);
      expect(sizeBytes(id)).toBe(1 << n);
    }
  });

  test('AArch32 fields: DBGDIDR (cp14, NS) and a 64-bit cp15 register', () => {
    const f = aarch32Fields(0x40200000200e0000n);
    expect(f).toEqual({ cp: 14, crn: 0, crm: 0, opc1: 0, opc2: 0, is64: false, ns: true });
    expect(aarch32Id(f)).toBe(0x40200000200e0000n);
    // FCSEIDR, Secure bank: cp15 c13 c0 0 0, NS bit clear
    expect(aarch32Fields(0x40200000000f6800n)).toMatchObject({ cp: 15, crn: 13, crm: 0, opc1: 0, opc2: 0, ns: false });
    // TTBR0 (64-bit): p15 0 c2, NS
    const ttbr0 = aarch32Id({ cp: 15, crn: 0, crm: 2, opc1: 0, opc2: 0, is64: true, ns: true });
    expect(formatRegId(ttbr0)).toBe('0x40300000200f0100');
    expect(aarch32Fields(ttbr0)).toMatchObject({ is64: true, crm: 2, ns: true });
  });
});
