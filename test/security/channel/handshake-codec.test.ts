import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isOtaError } from '../../../src/protocol/errors.js';
import { decodeHandshake, encodeHandshake, type HandshakeMessage } from '../../../src/security/channel/index.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const R = '11'.repeat(32);
const SHARE = '04' + 'aa'.repeat(64);
const SIG = '5a'.repeat(64);
const MAC = 'c3'.repeat(32);

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isOtaError(e), `not an OtaError: ${String(e)}`);
    return e.code;
  }
  return 'NO_ERROR';
}

const vectors: Array<[string, string, HandshakeMessage]> = [
  [
    'ClientHello offering both suites',
    '01 01' + // version 1, type ClientHello
      R + // client random (32)
      '02 01 02' + // 2 suites: aes-256-gcm (0x01), 3des-cbc-hmac-sha256 (0x02)
      SHARE + // ephemeral P-256 key share, uncompressed (65)
      '0003 300100', // certificate length 3, certificate DER
    { type: 'clientHello', random: hex(R), suites: [1, 2], keyShare: hex(SHARE), certificate: hex('300100') },
  ],
  [
    'ServerHello choosing 3DES',
    '01 02' + // version 1, type ServerHello
      R + // server random (32)
      '02' + // chosen suite 3des-cbc-hmac-sha256
      SHARE + // ephemeral key share (65)
      '0002 3000' + // certificate length 2, certificate DER
      SIG + // ECDSA r ‖ s (64)
      MAC, // server Finished MAC (32)
    { type: 'serverHello', random: hex(R), suite: 2, keyShare: hex(SHARE), certificate: hex('3000'), signature: hex(SIG), mac: hex(MAC) },
  ],
  [
    'Finished',
    '01 03' + SIG + MAC, // version, type Finished, signature (64), MAC (32)
    { type: 'finished', signature: hex(SIG), mac: hex(MAC) },
  ],
];

describe('handshake codec', () => {
  for (const [name, bytes, msg] of vectors) {
    it(`decodes and encodes the annotated ${name}`, () => {
      assert.deepEqual(decodeHandshake(hex(bytes)), msg);
      assert.deepEqual(encodeHandshake(msg), hex(bytes));
    });
  }

  const ch = hex(vectors[0]![1]);
  const patched = (at: number, v: number): Uint8Array => {
    const b = Uint8Array.from(ch);
    b[at] = v;
    return b;
  };
  const malformed: Array<[string, Uint8Array, string]> = [
    ['an empty message', new Uint8Array(0), 'SC_TRUNCATED'],
    ['a lone version byte', hex('01'), 'SC_TRUNCATED'],
    ['version 0x02', patched(0, 2), 'SC_BAD_VERSION'],
    ['unknown type 0x09', patched(1, 9), 'SC_MALFORMED'],
    ['a record (type 0x17)', patched(1, 0x17), 'SC_UNEXPECTED_MESSAGE'],
    ['a ClientHello cut inside the random', ch.subarray(0, 20), 'SC_TRUNCATED'],
    ['zero suites', patched(34, 0), 'SC_MALFORMED'],
    ['nine suites', patched(34, 9), 'SC_MALFORMED'],
    ['a suite offered twice', patched(36, 1), 'SC_MALFORMED'],
    ['a compressed key share (0x02)', patched(37, 2), 'SC_BAD_KEY_SHARE'],
    ['a zero-length certificate', Uint8Array.from([...ch.subarray(0, 102), 0, 0]), 'SC_MALFORMED'],
    ['a certificate length over 4096', Uint8Array.from([...ch.subarray(0, 102), 0x10, 0x01]), 'SC_TOO_LARGE'],
    ['a certificate shorter than its length', ch.subarray(0, ch.length - 1), 'SC_TRUNCATED'],
    ['a trailing byte', Uint8Array.from([...ch, 0]), 'SC_MALFORMED'],
    ['a Finished without its MAC', hex('0103' + SIG), 'SC_TRUNCATED'],
    ['a message over the size limit', new Uint8Array(5000).fill(1), 'SC_TOO_LARGE'],
  ];
  for (const [name, bytes, expected] of malformed) {
    it(`refuses ${name} with ${expected}`, () => {
      assert.equal(code(() => decodeHandshake(bytes)), expected);
    });
  }

  it('refuses to encode fields of the wrong size with SC_MALFORMED', () => {
    assert.equal(code(() => encodeHandshake({ type: 'finished', signature: new Uint8Array(63), mac: new Uint8Array(32) })), 'SC_MALFORMED');
  });

  const bytesOf = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n });
  const share = bytesOf(65).map((b) => {
    b[0] = 4;
    return b;
  });
  const cert = fc.uint8Array({ minLength: 1, maxLength: 4096 });
  const message: fc.Arbitrary<HandshakeMessage> = fc.oneof(
    fc.record({
      type: fc.constant('clientHello' as const),
      random: bytesOf(32),
      suites: fc.uniqueArray(fc.nat({ max: 255 }), { minLength: 1, maxLength: 8 }),
      keyShare: share,
      certificate: cert,
    }),
    fc.record({
      type: fc.constant('serverHello' as const),
      random: bytesOf(32),
      suite: fc.nat({ max: 255 }),
      keyShare: share,
      certificate: cert,
      signature: bytesOf(64),
      mac: bytesOf(32),
    }),
    fc.record({ type: fc.constant('finished' as const), signature: bytesOf(64), mac: bytesOf(32) }),
  );

  it('decode(encode(m)) deep-equals m', () => {
    fc.assert(
      fc.property(message, (m) => {
        assert.deepEqual(decodeHandshake(encodeHandshake(m)), { ...m }); // fc.record objects have a null prototype
      }),
      { numRuns: 2000 },
    );
  });

  it('random bytes give only OtaError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 4 }), (bytes, kind) => {
        if (bytes.length >= 2 && kind > 0) {
          bytes[0] = 1; // reach past the version check most of the time
          bytes[1] = kind > 3 ? 0x17 : kind;
        }
        try {
          decodeHandshake(bytes);
        } catch (e) {
          if (!isOtaError(e)) throw e;
        }
      }),
      { numRuns: 10_000 },
    );
  });

  it('mutations and truncations of valid messages give only OtaError', () => {
    fc.assert(
      fc.property(message, fc.nat(), fc.nat({ max: 255 }), fc.nat(), (m, at, v, cut) => {
        const b = encodeHandshake(m);
        b[at % b.length] = v;
        try {
          decodeHandshake(b.subarray(0, cut % (b.length + 1)));
        } catch (e) {
          if (!isOtaError(e)) throw e;
        }
      }),
      { numRuns: 10_000 },
    );
  });
});
