import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { OtaError } from '../../../src/protocol/errors.js';
import {
  SIGNED_ASSIGNMENT_MAX_BYTES,
  decodeAssignment,
  decodeSignedAssignment,
  encodeAssignment,
  newAssignment,
  signAssignment,
  type Assignment,
} from '../../../src/security/firmware/assignment.js';
import { encodeSigned } from '../../../src/security/firmware/envelope.js';
import { manifestDigest } from '../../../src/security/firmware/manifest.js';
import { derOf, makeFleet, type Fleet } from '../pki/fixtures.js';
import { assertOnlyOtaErrors, mutationsOf } from '../../helpers/properties.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const DIGEST = 'ab'.repeat(32);
const NONCE = '000102030405060708090a0b0c0d0e0f';

const assignment: Assignment = {
  vehicleId: 'VIN0001',
  ecu: 'engine',
  manifestDigest: DIGEST,
  nonce: NONCE,
  issuedAt: new Date('2026-03-01T12:00:00.000Z'), // 1772366400000 ms = 0x0000019CA9450A00
  expiresAt: new Date('2026-03-02T12:00:00.000Z'), // +86,400,000 ms = 0x0000019CAE6B6600
};
const assignmentBytes = hex(
  [
    '4f 54 41 41', //                      magic 'OTAA'
    '01', //                               encoding version 1
    '01 07 56 49 4e 30 30 30 31', //       vehicleId (7) 'VIN0001'
    '02 06 65 6e 67 69 6e 65', //          ecu (6) 'engine'
    `03 20 ${DIGEST}`, //                  manifestDigest (32)
    `04 10 ${NONCE}`, //                   nonce (16)
    '05 08 00 00 01 9c a9 45 0a 00', //    issuedAt, ms since 1970
    '06 08 00 00 01 9c ae 6b 66 00', //    expiresAt, ms since 1970
  ].join(''),
);

function refuses(fn: () => unknown, code = 'FW_MALFORMED'): void {
  assert.throws(fn, (e: unknown) => e instanceof OtaError && e.code === code);
}

describe('encodeAssignment / decodeAssignment', () => {
  it('encodes the annotated vector byte for byte and decodes it back', () => {
    assert.deepEqual(encodeAssignment(assignment), assignmentBytes);
    assert.deepEqual(decodeAssignment(assignmentBytes), assignment);
  });

  describe('malformed', () => {
    const mutate = (f: (b: number[]) => void): Uint8Array => {
      const b = [...assignmentBytes];
      f(b);
      return Uint8Array.from(b);
    };
    const end = assignmentBytes.length;
    const cases: [string, Uint8Array][] = [
      ['empty', new Uint8Array()],
      ['a manifest magic (OTAM)', mutate((b) => (b[3] = 0x4d))],
      ['version 0', mutate((b) => (b[4] = 0))],
      ['a trailing byte', mutate((b) => b.push(0))],
      ['a truncated last field', assignmentBytes.subarray(0, end - 1)],
      ['the ecu field first', mutate((b) => (b[5] = 0x02))],
      ['an empty vehicle id', hex('4f544141 01 0100 0206656e67696e65 0320' + DIGEST + ' 0410' + NONCE + ' 0508000001 9ca9a6f800 0608000001 9caecd5400')],
      ['a vehicle id with a slash', mutate((b) => (b[8] = 0x2f))],
      ['expiresAt equal to issuedAt', mutate((b) => b.splice(end - 8, 8, ...b.slice(end - 18, end - 10)))],
      ['expiresAt before issuedAt', mutate((b) => (b[end - 5] = 0x00))],
      ['a timestamp above 2^53', mutate((b) => (b[end - 8] = 0xff))],
    ];
    for (const [name, bytes] of cases) {
      it(`refuses ${name} with FW_MALFORMED`, () => refuses(() => decodeAssignment(bytes)));
    }
    it('refuses to encode out-of-range fields with FW_MALFORMED', () => {
      refuses(() => encodeAssignment({ ...assignment, nonce: 'abcd' }));
      refuses(() => encodeAssignment({ ...assignment, manifestDigest: DIGEST.toUpperCase() }));
      refuses(() => encodeAssignment({ ...assignment, ecu: '' }));
      refuses(() => encodeAssignment({ ...assignment, issuedAt: new Date(NaN) }));
      refuses(() => encodeAssignment({ ...assignment, expiresAt: assignment.issuedAt }));
    });
  });

  it('property: decode(encode(a)) equals a', () => {
    const arb = fc
      .record({
        vehicleId: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
        ecu: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/),
        manifestDigest: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')),
        nonce: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')),
        issued: fc.integer({ min: 0, max: 2 ** 52 }),
        ttl: fc.integer({ min: 1, max: 2 ** 40 }),
      })
      .map(({ issued, ttl, ...rest }): Assignment => ({ ...rest, issuedAt: new Date(issued), expiresAt: new Date(issued + ttl) }));
    fc.assert(fc.property(arb, (a) => assert.deepEqual(decodeAssignment(encodeAssignment(a)), { ...a })), { numRuns: 2_000 });
  });
});

describe('signAssignment / decodeSignedAssignment', () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await makeFleet();
  });

  it('signs with the manager key and carries the manager certificate', () => {
    const signed = signAssignment(assignment, fleet.manager);
    const d = decodeSignedAssignment(signed);
    assert.deepEqual(d.assignment, assignment);
    assert.deepEqual(d.assignmentBytes, assignmentBytes);
    assert.deepEqual(d.certDer, derOf(fleet.manager.certPem));
    assert.equal(d.signature.length, 64);
    assert.deepEqual([...signed.subarray(0, 5)], [0x4f, 0x54, 0x53, 0x41, 0x01]); // 'OTSA' v1
  });
  it('refuses to sign with a release certificate with FW_UNTRUSTED_SIGNER', () => {
    refuses(() => signAssignment(assignment, fleet.release), 'FW_UNTRUSTED_SIGNER');
  });
  it('newAssignment names the signed manifest by digest and draws a fresh nonce', () => {
    const signedManifest = Uint8Array.of(1, 2, 3);
    const now = new Date('2026-05-01T00:00:00Z');
    const a = newAssignment({ vehicleId: 'VIN0001', ecu: 'body', signedManifest, ttlMs: 60_000, now });
    const b = newAssignment({ vehicleId: 'VIN0001', ecu: 'body', signedManifest, ttlMs: 60_000, now });
    assert.equal(a.manifestDigest, manifestDigest(signedManifest));
    assert.match(a.nonce, /^[0-9a-f]{32}$/);
    assert.notEqual(a.nonce, b.nonce);
    assert.equal(a.expiresAt.getTime() - a.issuedAt.getTime(), 60_000);
  });

  describe('malformed', () => {
    const cert = new Uint8Array(400).fill(0x30);
    const sig = new Uint8Array(64);
    const cases: [string, () => Uint8Array][] = [
      ['a manifest container (OTSM)', () => encodeSigned('OTSM', { body: assignmentBytes, certDer: cert, signature: sig })],
      ['a trailing byte', () => Uint8Array.from([...encodeSigned('OTSA', { body: assignmentBytes, certDer: cert, signature: sig }), 0])],
      [`more than ${SIGNED_ASSIGNMENT_MAX_BYTES} bytes`, () => new Uint8Array(SIGNED_ASSIGNMENT_MAX_BYTES + 1)],
      ['a malformed assignment inside', () => encodeSigned('OTSA', { body: assignmentBytes.subarray(0, 30), certDer: cert, signature: sig })],
    ];
    for (const [name, bytes] of cases) {
      it(`refuses ${name} with FW_MALFORMED`, () => refuses(() => decodeSignedAssignment(bytes())));
    }
  });

  it('property: random bytes give only OtaError (10,000 cases)', () => {
    assertOnlyOtaErrors(decodeSignedAssignment, fc.uint8Array({ maxLength: 700 }));
  });
  it('property: mutated valid containers give an assignment or only OtaError (10,000 cases)', () => {
    const signed = encodeSigned('OTSA', { body: assignmentBytes, certDer: new Uint8Array(40).fill(7), signature: new Uint8Array(64) });
    assertOnlyOtaErrors(decodeSignedAssignment, mutationsOf(signed));
  });
});
