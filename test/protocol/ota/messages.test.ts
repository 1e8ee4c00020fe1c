import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OtaError } from '../../../src/protocol/errors.js';
import {
  decodeControl,
  encodeControl,
  messageClass,
  type ControlMessage,
} from '../../../src/protocol/ota/messages.js';

const announce: ControlMessage = {
  type: 'announce',
  vehicleId: 'WVWZZZ1JZXW000001',
  gateway: { version: '0.1.0', suites: ['aes-256-gcm', '3des-cbc-hmac-sha256'], capabilities: ['diag'] },
  ecus: [
    { name: 'engine', link: 'can', address: '0x7E0', appVersion: '1.0.0', bootVersion: '1.0.0', mode: 'application', serial: 'SN1', hardwareId: 'stm32f103c8' },
    { name: 'body', link: 'doip', address: '0x0011', appVersion: null, bootVersion: '1.0.0', mode: 'bootloader', serial: null, hardwareId: null },
  ],
};

describe('encodeControl / decodeControl', () => {
  it('round-trips every control message type', () => {
    const messages: ControlMessage[] = [
      announce,
      { type: 'diag.request', id: 'r1', ecu: 'engine', request: '22F190', timeoutMs: 5000 },
      { type: 'diag.response', id: 'r1', ecu: 'engine', response: '62F19041', pending: 2, elapsedMs: 12 },
      { type: 'diag.response', id: 'r2', ecu: 'engine', response: null },
      { type: 'diag.response', id: 'r3', ecu: 'body', error: { code: 'UDS_TIMEOUT', message: 'no response within 5000 ms' } },
      { type: 'crl.update', number: 7, crl: 'MIIBAQ==' },
    ];
    for (const m of messages) assert.deepEqual(decodeControl(encodeControl(m)), m);
  });

  it('starts with the control class byte 0x01 followed by JSON', () => {
    const bytes = encodeControl({ type: 'diag.request', id: 'a', ecu: 'engine', request: '3E00' });
    assert.equal(bytes[0], 0x01);
    assert.equal(messageClass(bytes), 'control');
    assert.equal(Buffer.from(bytes.subarray(1)).toString('utf8'), '{"type":"diag.request","id":"a","ecu":"engine","request":"3E00"}');
  });

  it('normalises hex to upper case', () => {
    const m = decodeControl(encodeControl({ type: 'diag.request', id: 'a', ecu: 'engine', request: '22f190' }));
    assert.equal(m.type === 'diag.request' && m.request, '22F190');
  });
});

describe('decodeControl › malformed', () => {
  const raw = (s: string, cls = 0x01): Uint8Array => Uint8Array.from([cls, ...Buffer.from(s, 'utf8')]);
  const cases: Array<[string, Uint8Array, string]> = [
    ['empty', new Uint8Array(0), 'OTA_MSG_CLASS'],
    ['bulk class', raw('{}', 0x02), 'OTA_MSG_CLASS'],
    ['unknown class', raw('{}', 0x09), 'OTA_MSG_CLASS'],
    ['not JSON', raw('{type'), 'OTA_MSG_JSON'],
    ['invalid UTF-8', Uint8Array.of(0x01, 0xff, 0xfe), 'OTA_MSG_JSON'],
    ['array', raw('[]'), 'OTA_MSG_SHAPE'],
    ['unknown type', raw('{"type":"reboot"}'), 'OTA_MSG_TYPE'],
    ['odd hex', raw('{"type":"diag.request","id":"a","ecu":"e","request":"22F"}'), 'OTA_MSG_FIELD'],
    ['non-hex', raw('{"type":"diag.request","id":"a","ecu":"e","request":"ZZ"}'), 'OTA_MSG_FIELD'],
    ['empty request', raw('{"type":"diag.request","id":"a","ecu":"e","request":""}'), 'OTA_MSG_FIELD'],
    ['timeout out of range', raw('{"type":"diag.request","id":"a","ecu":"e","request":"3E00","timeoutMs":0}'), 'OTA_MSG_FIELD'],
    ['response without result', raw('{"type":"diag.response","id":"a","ecu":"e"}'), 'OTA_MSG_SHAPE'],
    ['crl.update not base64', raw('{"type":"crl.update","number":2,"crl":"not base64!"}'), 'OTA_MSG_FIELD'],
    ['crl.update without number', raw('{"type":"crl.update","crl":"MIIBAQ=="}'), 'OTA_MSG_FIELD'],
    ['crl.update negative number', raw('{"type":"crl.update","number":-1,"crl":"MIIBAQ=="}'), 'OTA_MSG_FIELD'],
    ['announce without gateway', raw('{"type":"announce","vehicleId":"V","ecus":[]}'), 'OTA_MSG_SHAPE'],
    ['announce bad link', raw('{"type":"announce","vehicleId":"V","gateway":{"version":"1","suites":[],"capabilities":[]},"ecus":[{"name":"e","link":"usb","address":"1","mode":"unknown"}]}'), 'OTA_MSG_FIELD'],
  ];
  for (const [name, bytes, code] of cases) {
    it(`refuses ${name} with ${code}`, () => {
      assert.throws(() => decodeControl(bytes), (e: unknown) => e instanceof OtaError && e.code === code);
    });
  }
});

describe('decodeControl › property', () => {
  it('random bytes give only typed errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeControl(bytes);
        } catch (e) {
          if (!(e instanceof OtaError)) throw e;
        }
      }),
      { numRuns: 10_000 },
    );
  });

  it('random JSON values give only typed errors', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom('announce', 'diag.request', 'diag.response'), (value, type) => {
        const obj = typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...value, type } : value;
        try {
          decodeControl(Uint8Array.from([0x01, ...Buffer.from(JSON.stringify(obj), 'utf8')]));
        } catch (e) {
          if (!(e instanceof OtaError)) throw e;
        }
      }),
      { numRuns: 10_000 },
    );
  });

  it('diag requests round-trip', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 64 }),
        fc.string({ minLength: 1, maxLength: 32 }),
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        (id, ecu, req) => {
          const m: ControlMessage = { type: 'diag.request', id, ecu, request: Buffer.from(req).toString('hex').toUpperCase() };
          assert.deepEqual(decodeControl(encodeControl(m)), m);
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
