import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OtaError } from '../../../src/protocol/errors.js';
import { parseHex } from '../../../src/protocol/hex.js';
import {
  DOIP_CODE_TABLES,
  DOIP_DEFAULTS,
  DOIP_HEADER_LENGTH,
  describeDoip,
  doipCodeName,
  doipMessageTypeOf,
} from '../../../src/protocol/doip/index.js';
import { VECTORS } from './vectors.js';

describe('describeDoip', () => {
  it('names the header and payload fields of a routing activation response', () => {
    // python-doipclient successful_activation_response
    assert.deepEqual(describeDoip(parseHex('02 fd 00 06 00 00 00 09 0e 00 00 37 10 00 00 00 00')), {
      type: 'routingActivationResponse',
      protocolVersion: '0x02 iso13400_2_2012',
      inverseProtocolVersion: '0xFD',
      payloadType: '0x0006',
      payloadLength: 9,
      testerAddress: '0x0E00',
      entityAddress: '0x0037',
      responseCode: '0x10 successfullyActivated',
    });
  });

  it('describes several concatenated messages as an array, UDS user data as hex', () => {
    const bytes = parseHex('02 FD 80 01 00 00 00 07 0E 00 00 10 22 F1 90  02 FD 80 03 00 00 00 05 00 10 0E 00 06');
    assert.deepEqual(describeDoip(bytes), [
      {
        type: 'diagnosticMessage',
        protocolVersion: '0x02 iso13400_2_2012',
        inverseProtocolVersion: '0xFD',
        payloadType: '0x8001',
        payloadLength: 7,
        sourceAddress: '0x0E00',
        targetAddress: '0x0010',
        userData: '22 F1 90',
      },
      {
        type: 'diagnosticNack',
        protocolVersion: '0x02 iso13400_2_2012',
        inverseProtocolVersion: '0xFD',
        payloadType: '0x8003',
        payloadLength: 5,
        sourceAddress: '0x0010',
        targetAddress: '0x0E00',
        nackCode: '0x06 targetUnreachable',
      },
    ]);
  });

  it('shows an unset VIN as bytes, EID and GID as MAC-style hex, codes by name', () => {
    const v = VECTORS.find((x) => x.name.startsWith('vehicle announcement without sync status'));
    assert.ok(v);
    assert.deepEqual(describeDoip(parseHex(v.hex)), {
      type: 'vehicleAnnouncement',
      protocolVersion: '0x02 iso13400_2_2012',
      inverseProtocolVersion: '0xFD',
      payloadType: '0x0004',
      payloadLength: 32,
      vin: null,
      vinBytes: 'FF '.repeat(17).trim(),
      logicalAddress: '0x0010',
      eid: '02:00:00:00:00:01',
      gid: 'FF:FF:FF:FF:FF:FF',
      furtherAction: '0x10 centralSecurity',
    });
  });

  it('names generic NACK codes, 2-byte activation types and reserved fields', () => {
    assert.equal((describeDoip(parseHex('02 FD 00 00 00 00 00 01 02')) as Record<string, unknown>).nackCode, '0x02 messageTooLarge');
    const v1 = describeDoip(parseHex('01 FE 00 05 00 00 00 08 0E 00 00 01 00 00 00 00')) as Record<string, unknown>;
    assert.equal(v1.protocolVersion, '0x01 iso13400_2_2010');
    assert.equal(v1.activationType, '0x0001 wwhObd');
    const reserved = describeDoip(parseHex('03 FC 00 05 00 00 00 0B 0E 80 E5 00 00 00 2A 01 02 03 04')) as Record<string, unknown>;
    assert.equal(reserved.activationType, '0xE5 vmSpecific');
    assert.equal(reserved.reserved, '0x0000002A');
    assert.equal(reserved.oemSpecific, '0x01020304');
  });

  it('shows a payload type ISO 13400-2 does not define raw', () => {
    // python-doipclient unknown_mercedes_message (first bytes), a VM-specific payload type 0xF010
    assert.deepEqual(describeDoip(parseHex('02 fd f0 10 00 00 00 03 00 00 06')), {
      type: 'unknown',
      protocolVersion: '0x02 iso13400_2_2012',
      inverseProtocolVersion: '0xFD',
      payloadType: '0xF010',
      payloadLength: 3,
      payload: '00 00 06',
    });
  });

  it('describes every vector as JSON', () => {
    for (const v of VECTORS) {
      const d = describeDoip(parseHex(v.hex)) as Record<string, unknown>;
      assert.equal(d.type, v.message.type, v.name);
      assert.doesNotThrow(() => JSON.stringify(d));
    }
  });

  const malformed: [string, string, string][] = [
    ['', 'DOIP_TRUNCATED', 'no bytes'],
    ['02 FD 00 07 00 00 00 00 02 FD', 'DOIP_TRUNCATED', 'a second message cut in its header'],
    ['02 FD 80 01 00 00 00 07 0E 00 00 10 22', 'DOIP_TRUNCATED', 'a payload shorter than announced'],
    ['02 FC 00 07 00 00 00 00', 'DOIP_HEADER_PATTERN', 'a wrong inverse version'],
    ['02 FD 00 07 00 00 00 01 00', 'DOIP_INVALID_PAYLOAD_LENGTH', 'an alive check request with a payload'],
  ];
  for (const [hex, code, why] of malformed) {
    it(`refuses ${why} with ${code}`, () => {
      assert.throws(() => describeDoip(parseHex(hex)), (e: unknown) => e instanceof OtaError && e.code === code);
    });
  }
});

describe('DoIP code tables', () => {
  it('name reserved and VM-specific values by range', () => {
    assert.equal(doipCodeName('routingActivationResponse', 0x07), 'tlsRequired');
    assert.equal(doipCodeName('routingActivationResponse', 0x08), 'reserved');
    assert.equal(doipCodeName('routingActivationResponse', 0xe0), 'vmSpecific');
    assert.equal(doipCodeName('routingActivationResponse', 0xff), 'reserved');
    assert.equal(doipCodeName('diagnosticNack', 0x01), 'reserved');
    assert.equal(doipCodeName('diagnosticNack', 0x08), 'transportProtocolError');
    assert.equal(doipCodeName('diagnosticNack', 0x09), 'reserved');
    assert.equal(doipCodeName('furtherAction', 0x0f), 'reserved');
    assert.equal(doipCodeName('furtherAction', 0x11), 'vmSpecific');
    assert.equal(doipCodeName('genericNack', 0x05), 'reserved');
    assert.equal(doipCodeName('protocolVersion', 0xff), 'vehicleIdentificationDefault');
  });

  it('give every code a distinct name within its table', () => {
    for (const [kind, table] of Object.entries(DOIP_CODE_TABLES)) {
      const values = Object.values(table.codes);
      assert.equal(new Set(values).size, values.length, kind);
    }
  });

  it('hold the ARCHITECTURE.md contracts', () => {
    assert.deepEqual(DOIP_DEFAULTS, {
      port: 13400,
      protocolVersion: 0x02,
      activationType: 0x00,
      testerAddress: 0x0e00,
      engineAddress: 0x0010,
      bodyAddress: 0x0011,
    });
    assert.equal(DOIP_HEADER_LENGTH, 8);
    assert.equal(doipMessageTypeOf(0x8001), 'diagnosticMessage');
    assert.equal(doipMessageTypeOf(0x8004), undefined);
  });
});
