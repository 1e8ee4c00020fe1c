import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DID,
  STANDARD_DID_LENGTHS,
  decodeAlfid,
  decodeDfi,
  decodeLfi,
  decodeMemoryRange,
  didName,
  encodeAlfid,
  encodeDfi,
  encodeLfi,
  encodeMemoryRange,
  minimalLength,
} from '../../../src/protocol/uds/index.js';
import { assertDecodeError, h } from './helpers.js';

describe('ALFID (addressAndLengthFormatIdentifier)', () => {
  it('0x44 is a 4-byte address and a 4-byte size (ARCHITECTURE.md §3)', () => {
    assert.deepEqual(decodeAlfid(0x44), { addressLength: 4, sizeLength: 4 });
    assert.equal(encodeAlfid({ addressLength: 4, sizeLength: 4 }), 0x44);
  });

  it('high nibble is the memorySize length, low nibble the memoryAddress length', () => {
    assert.deepEqual(decodeAlfid(0x14), { addressLength: 4, sizeLength: 1 });
  });

  for (const byte of [0x00, 0x40, 0x04, 0x45, 0x54, 0xff]) {
    it(`rejects 0x${byte.toString(16).padStart(2, '0')} with UDS_RANGE and NRC 0x31`, () => assertDecodeError(() => decodeAlfid(byte), 'UDS_RANGE', 0x31));
  }

  it('round-trips every accepted byte', () => {
    for (let a = 1; a <= 4; a++) for (let s = 1; s <= 4; s++) assert.deepEqual(decodeAlfid(encodeAlfid({ addressLength: a, sizeLength: s })), { addressLength: a, sizeLength: s });
  });
});

describe('DFI and LFI', () => {
  it('DFI splits compression (high) and encryption (low) nibbles', () => {
    assert.deepEqual(decodeDfi(0x52), { compressionMethod: 5, encryptingMethod: 2 });
    assert.equal(encodeDfi({ compressionMethod: 5, encryptingMethod: 2 }), 0x52);
  });

  it('LFI 0x20 means a 2-byte maxNumberOfBlockLength', () => {
    assert.equal(decodeLfi(0x20), 2);
    assert.equal(encodeLfi(2), 0x20);
  });

  it('LFI with a reserved low nibble or a length of 0 or 5 is refused', () => {
    assertDecodeError(() => decodeLfi(0x23), 'UDS_RANGE');
    assertDecodeError(() => decodeLfi(0x00), 'UDS_RANGE');
    assertDecodeError(() => decodeLfi(0x50), 'UDS_RANGE');
    assertDecodeError(() => encodeLfi(0), 'UDS_RANGE');
  });
});

describe('decodeMemoryRange / encodeMemoryRange (eraseMemory option record)', () => {
  it('decodes ALFID, address and size of the application region', () => {
    const bytes = h('44' /* ALFID */, '08 00 20 00' /* address */, '00 00 DC 00' /* size 56 KiB */);
    const range = { memoryAddress: 0x08002000, memorySize: 0xdc00, addressLength: 4, sizeLength: 4 };
    assert.deepEqual(decodeMemoryRange(bytes), range);
    assert.deepEqual(encodeMemoryRange(range), bytes);
  });

  it('refuses trailing bytes with NRC 0x13 and size 0 with NRC 0x31', () => {
    assertDecodeError(() => decodeMemoryRange(h('11 10 01 00')), 'UDS_TRAILING', 0x13);
    assertDecodeError(() => decodeMemoryRange(h('11 10 00')), 'UDS_RANGE', 0x31);
  });

  it('minimalLength gives the fewest bytes that hold a value', () => {
    assert.equal(minimalLength(0), 1);
    assert.equal(minimalLength(0xff), 1);
    assert.equal(minimalLength(0x100), 2);
    assert.equal(minimalLength(0x08002000), 4);
  });

  it('decode(encode(x)) is x for random ranges', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 0xffffffff }), (memoryAddress, memorySize) => {
        const range = { memoryAddress, memorySize, addressLength: minimalLength(memoryAddress), sizeLength: minimalLength(memorySize) };
        assert.deepEqual(decodeMemoryRange(encodeMemoryRange(range)), range);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('standard DIDs', () => {
  it('names all of 0xF180..0xF19E', () => {
    for (let did = 0xf180; did <= 0xf19e; did++) assert.ok(didName(did), `0x${did.toString(16)} has no name`);
    assert.equal(Object.keys(DID).length, 0xf19e - 0xf180 + 1);
    assert.equal(didName(0xf19f), undefined);
  });

  it('uses the ISO names the flash sequence relies on', () => {
    assert.equal(didName(0xf180), 'bootSoftwareIdentification');
    assert.equal(didName(0xf186), 'activeDiagnosticSession');
    assert.equal(didName(0xf187), 'vehicleManufacturerSparePartNumber');
    assert.equal(didName(0xf189), 'vehicleManufacturerECUSoftwareVersionNumber');
    assert.equal(didName(0xf18c), 'ECUSerialNumber');
    assert.equal(didName(0xf190), 'VIN');
    assert.equal(didName(0xf19e), 'ODXFile');
  });

  it('fixes the lengths ISO fixes: VIN 17, active session 1', () => {
    assert.equal(STANDARD_DID_LENGTHS.get(DID.VIN), 17);
    assert.equal(STANDARD_DID_LENGTHS.get(DID.activeDiagnosticSession), 1);
  });
});
