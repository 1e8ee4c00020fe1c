import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError, OtaError } from '../../../src/protocol/errors.js';
import { parseHex, toHex } from '../../../src/protocol/hex.js';
import {
  DOIP_PAYLOAD_TYPE,
  DoipError,
  DoipStreamReader,
  decodeDoipMessage,
  doipNackFor,
  encodeDoipMessage,
  type DoipMessage,
} from '../../../src/protocol/doip/index.js';
import { VECTORS } from './vectors.js';

describe('DoIP vectors', () => {
  it('cover every payload type of ISO 13400-2 Table 17', () => {
    const covered = new Set(VECTORS.map((v) => v.message.type));
    assert.deepEqual([...covered].sort(), Object.keys(DOIP_PAYLOAD_TYPE).sort());
  });

  for (const v of VECTORS) {
    describe(`${v.name} (${v.source})`, () => {
      const bytes = parseHex(v.hex);
      it('parses', () => assert.deepEqual(decodeDoipMessage(bytes), v.message));
      it('generates', () => assert.equal(toHex(encodeDoipMessage(v.message)), toHex(bytes)));
      it('round-trips', () => assert.deepEqual(decodeDoipMessage(encodeDoipMessage(v.message)), v.message));
      it('streams byte by byte', () => {
        const reader = new DoipStreamReader();
        const events = [...bytes].flatMap((b) => reader.push(Uint8Array.of(b)));
        assert.deepEqual(events, [{ kind: 'message', message: v.message }]);
        assert.equal(reader.bufferedBytes, 0);
      });
    });
  }
});

describe('encodeDoipMessage', () => {
  it('writes protocol version 0x02 / 0xFD when the message names none', () => {
    const bytes = encodeDoipMessage({ type: 'aliveCheckResponse', sourceAddress: 0x0e00 });
    assert.equal(toHex(bytes), '02 FD 00 08 00 00 00 02 0E 00');
  });

  it('writes an empty previousData as absent', () => {
    const msg: DoipMessage = { type: 'diagnosticAck', sourceAddress: 1, targetAddress: 2, ackCode: 0, previousData: new Uint8Array(0) };
    assert.equal(toHex(encodeDoipMessage(msg)), '02 FD 80 02 00 00 00 05 00 01 00 02 00');
  });

  const outOfRange: [string, DoipMessage][] = [
    ['an address above 0xFFFF', { type: 'aliveCheckResponse', sourceAddress: 0x10000 }],
    ['a negative address', { type: 'aliveCheckResponse', sourceAddress: -1 }],
    ['a fractional code', { type: 'genericNack', nackCode: 1.5 }],
    ['a code above 0xFF', { type: 'powerModeResponse', powerMode: 0x100 }],
    ['a max data size above u32', { type: 'entityStatusResponse', nodeType: 0, maxOpenSockets: 1, openSockets: 0, maxDataSize: 2 ** 32 }],
    ['a 5-byte EID', { type: 'vehicleIdentificationRequestEid', eid: new Uint8Array(5) }],
    ['a 16-character VIN', { type: 'vehicleIdentificationRequestVin', vin: 'W'.repeat(16) }],
    ['a VIN character above 0xFF', { type: 'vehicleIdentificationRequestVin', vin: 'W'.repeat(16) + '\u0100' }],
    ['a diagnostic message without user data', { type: 'diagnosticMessage', sourceAddress: 0x0e00, targetAddress: 0x10, userData: new Uint8Array(0) }],
    ['a 2-byte activation type under version 0x02', { type: 'routingActivationRequest', sourceAddress: 0x0e00, activationType: 0x100 }],
    ['version 0xFF on a diagnostic message', { type: 'diagnosticMessage', protocolVersion: 0xff, sourceAddress: 1, targetAddress: 2, userData: Uint8Array.of(0x3e) }],
    ['unsupported version 0x04', { type: 'aliveCheckRequest', protocolVersion: 0x04 }],
    ['an unknown type', { type: 'nope' } as unknown as DoipMessage],
  ];
  for (const [what, msg] of outOfRange) {
    it(`refuses ${what} with DOIP_FIELD_RANGE`, () => {
      assert.throws(() => encodeDoipMessage(msg), (e: unknown) => e instanceof DecodeError && e.code === 'DOIP_FIELD_RANGE');
    });
  }
});

interface Malformed {
  readonly hex: string;
  readonly why: string;
  readonly code: string;
  /** Generic NACK code to answer with, or undefined when the error is not a header-handler refusal. */
  readonly nack?: number;
  readonly close?: boolean;
}

/** Each row: bytes, why they are wrong, expected error code, NACK code and socket handling (Table 19). */
const MALFORMED: readonly Malformed[] = [
  { hex: '02 FC 00 01 00 00 00 00', why: 'inverse 0xFC is not ~0x02', code: 'DOIP_HEADER_PATTERN', nack: 0x00, close: true },
  { hex: '02 02 80 01 00 00 00 05 0E 00 00 10 3E', why: 'inverse equals the version', code: 'DOIP_HEADER_PATTERN', nack: 0x00, close: true },
  { hex: '00 00 00 01 00 00 00 00', why: 'both bytes zero', code: 'DOIP_HEADER_PATTERN', nack: 0x00, close: true },
  { hex: '02 FC 00 09 00 00 00 00', why: 'pattern is checked before the payload type', code: 'DOIP_HEADER_PATTERN', nack: 0x00, close: true },
  { hex: '04 FB 00 07 00 00 00 00', why: 'version 0x04 is not accepted', code: 'DOIP_HEADER_VERSION', nack: 0x00, close: true },
  { hex: '00 FF 00 07 00 00 00 00', why: 'version 0x00 is reserved', code: 'DOIP_HEADER_VERSION', nack: 0x00, close: true },
  { hex: 'FF 00 00 05 00 00 00 07 0E 00 00 00 00 00 00', why: '0xFF on a routing activation request', code: 'DOIP_HEADER_VERSION', nack: 0x00, close: true },
  { hex: 'FF 00 40 01 00 00 00 00', why: '0xFF on an entity status request', code: 'DOIP_HEADER_VERSION', nack: 0x00, close: true },
  { hex: '02 FD 00 09 00 00 00 00', why: 'payload type 0x0009 undefined', code: 'DOIP_UNKNOWN_PAYLOAD_TYPE', nack: 0x01, close: false },
  { hex: '02 FD F0 10 00 00 00 01 AA', why: 'VM-specific payload type 0xF010', code: 'DOIP_UNKNOWN_PAYLOAD_TYPE', nack: 0x01, close: false },
  { hex: '02 FD 00 09 FF FF FF FF', why: 'payload type is checked before the length', code: 'DOIP_UNKNOWN_PAYLOAD_TYPE', nack: 0x01, close: false },
  { hex: '02 FD 80 01 00 00 10 05', why: 'payload length 4101 above the 4100 default', code: 'DOIP_MESSAGE_TOO_LARGE', nack: 0x02, close: false },
  { hex: '02 FD 80 01 40 00 00 00', why: 'payload length 1 GiB', code: 'DOIP_MESSAGE_TOO_LARGE', nack: 0x02, close: false },
  { hex: '02 FD 00 01 00 00 20 00', why: 'maximum is checked before the length rule', code: 'DOIP_MESSAGE_TOO_LARGE', nack: 0x02, close: false },
  { hex: '02 FD 00 00 00 00 00 02 00 00', why: 'generic NACK of 2 bytes', code: 'DOIP_INVALID_PAYLOAD_LENGTH', nack: 0x04, close: true },
  { hex: '02 FD 00 01 00 00 00 01 00', why: 'identification request with a payload', code: 'DOIP_INVALID_PAYLOAD_LENGTH', nack: 0x04, close: true },
  { hex: '02 FD 00 02 00 00 00 05 01 02 03 04 05', why: 'EID of 5 bytes', code: 'DOIP_INVALID_PAYLOAD_LENGTH', nack: 0x04, close: true },
  { hex: '02 FD 00 04 00 00 00 1F ' + '00 '.repeat(31), why: 'announcement of 31 bytes', code: 'DOIP_INVALID_PAYLOAD_LENGTH', nack: 0x04, close: true },
  { hex: '02 FD 00 05 00 00 00 08 0E 00 00 00 00 00 00 00', why: 'routing activation request of 8 bytes under 0x02', code: 'DOIP_INVALID_PAYLOAD_LENGTH', nack: 0x04, close: true },
  { hex: '01 FE 00 05 00 00 00 07 0E 00 00 00 00 00 00', why: 'routing activation request of 7 bytes under 0x01', code: 'DOIP_INVALID_PAYLOAD_LENGTH', nack: 0x04, close: true },
  { hex: '02 FD 00 06 00 00 00 0A ' + '00 '.repeat(10), why: 'routing activation response of 10 bytes', code: 'DOIP_INVALID_PAYLOAD_LENGTH', nack: 0x04, close: true },
  { hex: '02 FD 00 08 00 00 00 03 0E 00 00', why: 'alive check response of 3 bytes', code: 'DOIP_INVALID_PAYLOAD_LENGTH', nack: 0x04, close: true },
  { hex: '02 FD 40 02 00 00 00 05 01 10 01 00 00', why: 'entity status response of 5 bytes', code: 'DOIP_INVALID_PAYLOAD_LENGTH', nack: 0x04, close: true },
  { hex: '02 FD 40 04 00 00 00 00', why: 'power mode response without the mode', code: 'DOIP_INVALID_PAYLOAD_LENGTH', nack: 0x04, close: true },
  { hex: '02 FD 80 01 00 00 00 04 0E 00 00 10', why: 'diagnostic message without user data', code: 'DOIP_INVALID_PAYLOAD_LENGTH', nack: 0x04, close: true },
  { hex: '02 FD 80 02 00 00 00 04 00 10 0E 00', why: 'diagnostic ACK without its code', code: 'DOIP_INVALID_PAYLOAD_LENGTH', nack: 0x04, close: true },
  { hex: '02 FD 80 03 00 00 00 03 00 10 0E', why: 'diagnostic NACK of 3 bytes', code: 'DOIP_INVALID_PAYLOAD_LENGTH', nack: 0x04, close: true },
  { hex: '', why: 'no bytes', code: 'DOIP_TRUNCATED' },
  { hex: '02 FD 00', why: 'a partial header', code: 'DOIP_TRUNCATED' },
  { hex: '02 FD 00 08 00 00 00 02 0E', why: 'one of two announced payload bytes', code: 'DOIP_TRUNCATED' },
  { hex: '02 FD 00 07 00 00 00 00 00', why: 'a byte after the message', code: 'DOIP_TRAILING_BYTES' },
];

describe('decodeDoipMessage', () => {
  describe('malformed input', () => {
    for (const m of MALFORMED) {
      const what = m.nack === undefined ? m.code : `${m.code}, NACK 0x0${m.nack}${m.close ? ', close' : ''}`;
      it(`refuses ${m.why} with ${what}`, () => {
        assert.throws(
          () => decodeDoipMessage(parseHex(m.hex)),
          (e: unknown) => {
            assert.ok(e instanceof OtaError);
            assert.equal(e.code, m.code);
            assert.equal(e.wireCode, m.nack);
            assert.equal(e instanceof DoipError, m.nack !== undefined);
            if (e instanceof DoipError) assert.equal(e.closeConnection, m.close);
            return true;
          },
        );
      });
    }
  });

  it('refuses a payload the memory cannot hold now with NACK 0x03 (ISO 13400-2 [DoIP-044])', () => {
    const bytes = parseHex('02 FD 80 01 00 00 00 07 0E 00 00 10 22 F1 90');
    assert.throws(
      () => decodeDoipMessage(bytes, { hasMemoryFor: (n) => n < 7 }),
      (e: unknown) => e instanceof DoipError && e.code === 'DOIP_OUT_OF_MEMORY' && e.wireCode === 3 && !e.closeConnection,
    );
  });

  it('honours a custom maximum payload length', () => {
    const bytes = parseHex('02 FD 80 01 00 00 00 07 0E 00 00 10 22 F1 90');
    assert.equal(decodeDoipMessage(bytes, { maxPayloadLength: 7 }).type, 'diagnosticMessage');
    assert.throws(() => decodeDoipMessage(bytes, { maxPayloadLength: 6 }), { code: 'DOIP_MESSAGE_TOO_LARGE', wireCode: 2 });
  });

  it('accepts only the configured protocol versions', () => {
    const v3 = parseHex('03 FC 00 07 00 00 00 00');
    assert.equal(decodeDoipMessage(v3).protocolVersion, 3);
    assert.throws(() => decodeDoipMessage(v3, { protocolVersions: [2] }), { code: 'DOIP_HEADER_VERSION', wireCode: 0 });
    // 0xFF stays valid on identification requests whatever the configured versions.
    assert.equal(decodeDoipMessage(parseHex('FF 00 00 03 00 00 00 11' + ' 57'.repeat(17)), { protocolVersions: [2] }).type, 'vehicleIdentificationRequestVin');
  });

  it('returns user data as a view into the input, not a copy', () => {
    const bytes = parseHex('02 FD 80 01 00 00 00 07 0E 00 00 10 22 F1 90');
    const msg = decodeDoipMessage(bytes);
    assert.ok(msg.type === 'diagnosticMessage');
    assert.equal(msg.userData.buffer, bytes.buffer);
    assert.equal(msg.userData.byteOffset, 12);
  });
});

describe('doipNackFor', () => {
  it('answers an invalid payload length with generic NACK 0x04 and closes (python-doipclient nack_response)', () => {
    let error: unknown;
    try {
      decodeDoipMessage(parseHex('02 FD 00 08 00 00 00 03 0E 00 00'));
    } catch (e) {
      error = e;
    }
    const nack = doipNackFor(error);
    assert.ok(nack);
    assert.equal(nack.closeConnection, true);
    assert.equal(toHex(encodeDoipMessage(nack.reply)), '02 FD 00 00 00 00 00 01 04');
  });

  it('answers an unknown payload type with NACK 0x01 and keeps the socket', () => {
    const nack = doipNackFor(catchError(() => decodeDoipMessage(parseHex('02 FD 00 09 00 00 00 00'))));
    assert.deepEqual(nack, { reply: { type: 'genericNack', nackCode: 0x01 }, closeConnection: false });
  });

  it('has no NACK for errors outside the generic header handler', () => {
    assert.equal(doipNackFor(catchError(() => decodeDoipMessage(parseHex('02 FD 00 07 00 00 00 00 00')))), undefined);
    assert.equal(doipNackFor(new Error('x')), undefined);
  });
});

function catchError(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  assert.fail('expected an error');
}
