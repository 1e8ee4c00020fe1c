import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { OtaError } from '../../../src/protocol/errors.js';
import { decodeSigned, encodeSigned } from '../../../src/security/firmware/envelope.js';
import {
  SIGNED_MANIFEST_MAX_BYTES,
  decodeManifest,
  decodeSignedManifest,
  encodeManifest,
  manifestDigest,
  signManifest,
  type Manifest,
} from '../../../src/security/firmware/manifest.js';
import { makeFleet, derOf, type Fleet } from '../pki/fixtures.js';
import { assertOnlyOtaErrors, mutationsOf } from '../../helpers/properties.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const SHA = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';

const manifest: Manifest = {
  hardwareId: 'stm32f103c8',
  version: '1.2.0-rc.1+build.5',
  counter: 7,
  length: 0x1234,
  sha256: SHA,
  loadAddress: 0x08002000,
  format: 'srec',
};
const manifestBytes = hex(
  [
    '4f 54 41 4d', //                                  magic 'OTAM'
    '01', //                                           encoding version 1
    '01 0b 73 74 6d 33 32 66 31 30 33 63 38', //       hardwareId (11) 'stm32f103c8'
    '02 12 31 2e 32 2e 30 2d 72 63 2e 31 2b 62 75 69 6c 64 2e 35', // version (18) '1.2.0-rc.1+build.5'
    '03 04 00 00 00 07', //                            counter 7
    '04 04 00 00 12 34', //                            length 0x1234
    `05 20 ${SHA}`, //                                 sha256 (32)
    '06 04 08 00 20 00', //                            loadAddress 0x08002000
    '07 01 02', //                                     format srec
  ].join(''),
);

function refuses(fn: () => unknown, code = 'FW_MALFORMED'): void {
  assert.throws(fn, (e: unknown) => e instanceof OtaError && e.code === code);
}

describe('encodeManifest / decodeManifest', () => {
  it('encodes the annotated vector byte for byte and decodes it back', () => {
    assert.deepEqual(encodeManifest(manifest), manifestBytes);
    assert.deepEqual(decodeManifest(manifestBytes), manifest);
  });

  describe('malformed', () => {
    const mutate = (f: (b: number[]) => void): Uint8Array => {
      const b = [...manifestBytes];
      f(b);
      return Uint8Array.from(b);
    };
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array()],
      ['wrong magic', mutate((b) => (b[3] = 0x41))],
      ['unknown version', mutate((b) => (b[4] = 2))],
      ['a trailing byte', mutate((b) => b.push(0))],
      ['a missing last field', manifestBytes.subarray(0, manifestBytes.length - 3)],
      ['a field running past the end', manifestBytes.subarray(0, manifestBytes.length - 1)],
      ['fields out of order (hardwareId tag 0x02)', mutate((b) => (b[5] = 0x02))],
      ['format code 0', mutate((b) => (b[b.length - 1] = 0))],
      ['format code 4', mutate((b) => (b[b.length - 1] = 4))],
      ['a hardware id with a space', mutate((b) => (b[8] = 0x20))],
      ['a version that is not SemVer (1.2)', encodeRaw({ version: '1.2' })],
      ['a version with a leading zero (01.2.0)', encodeRaw({ version: '01.2.0' })],
      ['a counter of 5 bytes', encodeRaw({ counter: Uint8Array.of(0, 0, 0, 0, 7) })],
      ['length 0', encodeRaw({ length: Uint8Array.of(0, 0, 0, 0) })],
      ['an image past 2^32', encodeRaw({ loadAddress: Uint8Array.of(0xff, 0xff, 0xff, 0x00) })],
      ['a 31-byte sha256', encodeRaw({ sha256: new Uint8Array(31) })],
      ['a 2-byte format', encodeRaw({ format: Uint8Array.of(1, 1) })],
    ];
    for (const [name, bytes] of cases) {
      it(`refuses ${name} with FW_MALFORMED`, () => refuses(() => decodeManifest(bytes)));
    }
    it('refuses to encode out-of-range fields with FW_MALFORMED', () => {
      refuses(() => encodeManifest({ ...manifest, counter: 2 ** 32 }));
      refuses(() => encodeManifest({ ...manifest, counter: -1 }));
      refuses(() => encodeManifest({ ...manifest, length: 0 }));
      refuses(() => encodeManifest({ ...manifest, sha256: SHA.toUpperCase() }));
      refuses(() => encodeManifest({ ...manifest, hardwareId: 'x'.repeat(33) }));
      refuses(() => encodeManifest({ ...manifest, format: 'elf' as 'bin' }));
      refuses(() => encodeManifest({ ...manifest, loadAddress: 0xffffffff, length: 2 }));
    });
  });

  it('property: decode(encode(m)) equals m', () => {
    fc.assert(fc.property(arbManifest(), (m) => assert.deepEqual(decodeManifest(encodeManifest(m)), { ...m })), { numRuns: 2_000 });
  });
});

describe('decodeSignedManifest', () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await makeFleet();
  });

  it('splits what signManifest wrote into manifest, certificate and a 64-byte signature', () => {
    const signed = signManifest(manifest, fleet.release);
    const d = decodeSignedManifest(signed);
    assert.deepEqual(d.manifest, manifest);
    assert.deepEqual(d.manifestBytes, manifestBytes);
    assert.deepEqual(d.certDer, derOf(fleet.release.certPem));
    assert.equal(d.signature.length, 64);
    assert.equal(d.digest, manifestDigest(signed));
    assert.ok(signed.length < SIGNED_MANIFEST_MAX_BYTES);
    // OTSM ‖ version 1 ‖ manifest length
    assert.deepEqual([...signed.subarray(0, 7)], [0x4f, 0x54, 0x53, 0x4d, 0x01, 0x00, manifestBytes.length]);
  });
  it('refuses a key that does not belong to the certificate with FW_KEY_MISMATCH', () => {
    refuses(() => signManifest(manifest, { keyPem: fleet.manager.keyPem, certPem: fleet.release.certPem }), 'FW_KEY_MISMATCH');
  });
  it('refuses to sign with a certificate that is not a release certificate with FW_UNTRUSTED_SIGNER', () => {
    refuses(() => signManifest(manifest, fleet.manager), 'FW_UNTRUSTED_SIGNER');
  });

  describe('malformed', () => {
    const cert = new Uint8Array(500).fill(0x30);
    const sig = new Uint8Array(64).fill(1);
    const good = (): Uint8Array => encodeSigned('OTSM', { body: manifestBytes, certDer: cert, signature: sig });
    const cases: [string, () => Uint8Array][] = [
      ['empty input', () => new Uint8Array()],
      ['an assignment container (magic OTSA)', () => encodeSigned('OTSA', { body: manifestBytes, certDer: cert, signature: sig })],
      ['container version 2', () => Uint8Array.from(good(), (b, i) => (i === 4 ? 2 : b))],
      ['a trailing byte', () => Uint8Array.from([...good(), 0])],
      ['a missing signature byte', () => good().subarray(0, good().length - 1)],
      ['a body length past the end', () => Uint8Array.from(good(), (b, i) => (i === 5 ? 0xff : b))],
      ['a certificate length of 0', () => encodeRawSigned(manifestBytes, new Uint8Array(), sig)],
      ['a certificate of 3000 bytes', () => encodeRawSigned(manifestBytes, new Uint8Array(3000), sig)],
      [`more than ${SIGNED_MANIFEST_MAX_BYTES} bytes`, () => new Uint8Array(SIGNED_MANIFEST_MAX_BYTES + 1)],
      ['a malformed manifest inside', () => encodeSigned('OTSM', { body: manifestBytes.subarray(0, 20), certDer: cert, signature: sig })],
    ];
    for (const [name, bytes] of cases) {
      it(`refuses ${name} with FW_MALFORMED`, () => refuses(() => decodeSignedManifest(bytes())));
    }
  });

  it('property: random bytes give only OtaError (10,000 cases)', () => {
    assertOnlyOtaErrors(decodeSignedManifest, fc.uint8Array({ maxLength: 700 }));
  });
  it('property: mutated valid containers give a decoded manifest or only OtaError (10,000 cases)', () => {
    const signed = encodeSigned('OTSM', { body: manifestBytes, certDer: new Uint8Array(40).fill(7), signature: new Uint8Array(64) });
    assertOnlyOtaErrors(decodeSignedManifest, mutationsOf(signed));
  });
  it('property: the container round-trips any parts', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.uint8Array({ minLength: 1, maxLength: 2048 }), fc.uint8Array({ minLength: 64, maxLength: 64 }), (body, certDer, signature) => {
        assert.deepEqual(decodeSigned('OTSM', encodeSigned('OTSM', { body, certDer, signature }), 70_000), { body, certDer, signature });
      }),
      { numRuns: 500 },
    );
  });
});

/** A manifest with some fields replaced by raw values, bypassing the encoder's checks. */
function encodeRaw(over: Partial<Record<'hardwareId' | 'version' | 'counter' | 'length' | 'sha256' | 'loadAddress' | 'format', string | Uint8Array>>): Uint8Array {
  const u32 = (n: number): Uint8Array => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  const fields: [number, string | Uint8Array][] = [
    [1, over.hardwareId ?? manifest.hardwareId],
    [2, over.version ?? manifest.version],
    [3, over.counter ?? u32(manifest.counter)],
    [4, over.length ?? u32(manifest.length)],
    [5, over.sha256 ?? hex(SHA)],
    [6, over.loadAddress ?? u32(manifest.loadAddress)],
    [7, over.format ?? Uint8Array.of(2)],
  ];
  const out = [0x4f, 0x54, 0x41, 0x4d, 1];
  for (const [tag, v] of fields) {
    const bytes = typeof v === 'string' ? Buffer.from(v, 'latin1') : v;
    out.push(tag, bytes.length, ...bytes);
  }
  return Uint8Array.from(out);
}

function encodeRawSigned(body: Uint8Array, cert: Uint8Array, sig: Uint8Array): Uint8Array {
  return Uint8Array.from([0x4f, 0x54, 0x53, 0x4d, 1, body.length >> 8, body.length & 0xff, ...body, cert.length >> 8, cert.length & 0xff, ...cert, ...sig]);
}

function arbManifest(): fc.Arbitrary<Manifest> {
  const ident = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/);
  const num = fc.integer({ min: 0, max: 999 }).map(String);
  const version = fc
    .tuple(num, num, num, fc.option(fc.stringMatching(/^[a-z][a-z0-9]{0,6}(\.[1-9][0-9]{0,2})?$/), { nil: undefined }))
    .map(([a, b, c, pre]) => `${a}.${b}.${c}${pre === undefined ? '' : '-' + pre}`);
  return fc
    .record({
      hardwareId: ident,
      version,
      counter: fc.integer({ min: 0, max: 0xffffffff }),
      length: fc.integer({ min: 1, max: 0x100000 }),
      sha256: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')),
      loadAddress: fc.integer({ min: 0, max: 0xfff00000 }),
      format: fc.constantFrom('ihex' as const, 'srec' as const, 'bin' as const),
    });
}
