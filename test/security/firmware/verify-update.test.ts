import assert from 'node:assert/strict';
import { createHash, createPrivateKey } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { OtaError } from '../../../src/protocol/errors.js';
import { createCrl, issueCertificate, type Issued } from '../../../src/security/pki/ca.js';
import { trustStoreFromPem, type TrustStore } from '../../../src/security/pki/verify.js';
import { x509 } from '../../../src/security/pki/x509.js';
import { encodeAssignment, newAssignment, signAssignment, type Assignment } from '../../../src/security/firmware/assignment.js';
import { encodeSigned, signBody } from '../../../src/security/firmware/envelope.js';
import { encodeManifest, manifestDigest, signManifest, type Manifest } from '../../../src/security/firmware/manifest.js';
import { verifyUpdate, type UpdateInput } from '../../../src/security/firmware/verify.js';
import { derOf, flipBit, makeFleet, type Fleet } from '../pki/fixtures.js';

const DAY = 86_400_000;
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

const image = Uint8Array.from({ length: 2048 }, (_, i) => (i * 7 + 3) & 0xff);
const manifest: Manifest = {
  hardwareId: 'stm32f103c8',
  version: '1.2.0',
  counter: 7,
  length: image.length,
  sha256: createHash('sha256').update(image).digest('hex'),
  loadAddress: 0x08002000,
  format: 'ihex',
};
const installed = { counter: 6, hardwareId: 'stm32f103c8' };
const expect = { vehicleId: 'VIN0001', ecu: 'engine' };

/** The signed container with `signer`'s key and certificate, whatever its role. */
function signAs(body: Uint8Array, signer: Issued, magic: 'OTSM' | 'OTSA'): Uint8Array {
  return encodeSigned(magic, { body, certDer: derOf(signer.certPem), signature: signBody(body, createPrivateKey(signer.keyPem)) });
}

describe('verifyUpdate', () => {
  let fleet: Fleet;
  let other: Fleet;
  let trust: TrustStore;
  let signedManifest: Uint8Array;
  let assignment: Assignment;
  let signedAssignment: Uint8Array;
  let revokedRelease: Issued;
  let revokedManager: Issued;
  let expiredRelease: Issued;
  let futureRelease: Issued;
  const now = new Date();

  before(async () => {
    fleet = await makeFleet();
    other = await makeFleet('Other CA');
    revokedRelease = await issueCertificate(fleet.ca, { role: 'release', name: 'release-old' });
    revokedManager = await issueCertificate(fleet.ca, { role: 'manager', name: 'manager-old' });
    expiredRelease = await issueCertificate(fleet.ca, { role: 'release', name: 'rel-exp', notBefore: new Date(Date.now() - 9 * DAY), notAfter: new Date(Date.now() - DAY) });
    futureRelease = await issueCertificate(fleet.ca, { role: 'release', name: 'rel-fut', notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 9 * DAY) });
    const serial = (i: Issued): string => new x509.X509Certificate(i.certPem).serialNumber;
    const crl = await createCrl(fleet.ca, [revokedRelease, revokedManager].map((i) => ({ serial: serial(i), revokedAt: new Date() })), { crlNumber: 2 });
    trust = await trustStoreFromPem(fleet.ca.certPem, crl);
    signedManifest = signManifest(manifest, fleet.release);
    assignment = newAssignment({ ...expect, signedManifest, ttlMs: 3_600_000, now });
    signedAssignment = signAssignment(assignment, fleet.manager);
  });

  const gateway = (over: Partial<UpdateInput> = {}): UpdateInput => ({
    signedManifest,
    assignment: signedAssignment,
    image,
    installed,
    expect,
    trust,
    seenNonces: new Set<string>(),
    now,
    ...over,
  });

  /** Refused with `code`, and nothing the caller handed in was changed. */
  async function refuses(input: UpdateInput, code: string): Promise<void> {
    const snapshot = structuredClone({ m: input.signedManifest, a: input.assignment, i: input.image, inst: input.installed, e: input.expect });
    const nonces = input.seenNonces instanceof Set ? [...(input.seenNonces as Set<string>)] : undefined;
    const revoked = [...input.trust.revoked];
    await assert.rejects(verifyUpdate(input), (e: unknown) => {
      assert.ok(e instanceof OtaError, String(e));
      assert.equal(e.code, code);
      return true;
    });
    assert.deepEqual({ m: input.signedManifest, a: input.assignment, i: input.image, inst: input.installed, e: input.expect }, snapshot);
    if (nonces) assert.deepEqual([...(input.seenNonces as Set<string>)], nonces);
    assert.deepEqual([...input.trust.revoked], revoked);
  }

  describe('accepts', () => {
    it('a gateway update: signed manifest, assignment, image, installed state', async () => {
      const seen = new Set<string>();
      const v = await verifyUpdate(gateway({ seenNonces: seen }));
      assert.deepEqual(v.manifest, manifest);
      assert.equal(v.manifestDigest, manifestDigest(signedManifest));
      assert.equal(v.releaseSigner.cn, 'release-2026');
      assert.equal(v.assignmentSigner?.cn, 'manager-1');
      assert.deepEqual(v.assignment, assignment);
      assert.equal(seen.size, 0, 'verifyUpdate records nothing');
    });
    it('an ECU check: signed manifest, written image and installed state, no assignment', async () => {
      const v = await verifyUpdate({ signedManifest, image, installed, expect: {}, trust });
      assert.equal(v.manifest.counter, 7);
      assert.equal(v.assignment, undefined);
    });
  });

  describe('refuses, changing nothing', () => {
    it('random bytes as a manifest with FW_MALFORMED', () => refuses(gateway({ signedManifest: Uint8Array.of(1, 2, 3) }), 'FW_MALFORMED'));
    it('random bytes as an assignment with FW_MALFORMED', () => refuses(gateway({ assignment: new Uint8Array(100) }), 'FW_MALFORMED'));

    it('a manifest with a flipped bit in the counter with FW_BAD_SIGNATURE', async () => {
      const at = 7 + encodeManifest(manifest).indexOf(0x03) + 5; // low byte of the counter value
      await refuses(gateway({ signedManifest: flipBit(signedManifest, at, 4) }), 'FW_BAD_SIGNATURE');
    });
    it('a manifest with a flipped signature bit with FW_BAD_SIGNATURE', () =>
      refuses(gateway({ signedManifest: flipBit(signedManifest, signedManifest.length - 10, 2) }), 'FW_BAD_SIGNATURE'));
    it('a manifest whose signature is the high-S twin with FW_BAD_SIGNATURE', async () => {
      const twin = Uint8Array.from(signedManifest);
      const s = BigInt('0x' + Buffer.from(twin.subarray(twin.length - 32)).toString('hex'));
      twin.set(Buffer.from((P256_N - s).toString(16).padStart(64, '0'), 'hex'), twin.length - 32);
      await refuses(gateway({ signedManifest: twin }), 'FW_BAD_SIGNATURE');
    });
    it('an assignment with a flipped nonce bit with FW_BAD_SIGNATURE', () => {
      const at = Buffer.from(signedAssignment).indexOf(Buffer.from(assignment.nonce, 'hex'));
      return refuses(gateway({ assignment: flipBit(signedAssignment, at, 0) }), 'FW_BAD_SIGNATURE');
    });
    it('a manifest signed by another CA\'s release key with FW_UNTRUSTED_SIGNER', () =>
      refuses(gateway({ signedManifest: signManifest(manifest, other.release) }), 'FW_UNTRUSTED_SIGNER'));
    it('a manifest signed by the manager key (not a release key) with FW_UNTRUSTED_SIGNER', () =>
      refuses(gateway({ signedManifest: signAs(encodeManifest(manifest), fleet.manager, 'OTSM') }), 'FW_UNTRUSTED_SIGNER'));
    it('a manifest signed by an expired release certificate with FW_UNTRUSTED_SIGNER', () =>
      refuses(gateway({ signedManifest: signManifest(manifest, expiredRelease) }), 'FW_UNTRUSTED_SIGNER'));
    it('a manifest signed by a not-yet-valid release certificate with FW_UNTRUSTED_SIGNER', () =>
      refuses(gateway({ signedManifest: signManifest(manifest, futureRelease) }), 'FW_UNTRUSTED_SIGNER'));
    it('a manifest whose certificate was altered with FW_UNTRUSTED_SIGNER', () => {
      const at = Buffer.from(signedManifest).indexOf(Buffer.from('release-2026'));
      return refuses(gateway({ signedManifest: flipBit(signedManifest, at, 0) }), 'FW_UNTRUSTED_SIGNER');
    });
    it('an assignment signed by a vehicle key with FW_UNTRUSTED_SIGNER', () => {
      return refuses(gateway({ assignment: signAs(encodeAssignment(assignment), fleet.vehicle, 'OTSA') }), 'FW_UNTRUSTED_SIGNER');
    });
    it('an assignment signed by another CA\'s manager with FW_UNTRUSTED_SIGNER', () =>
      refuses(gateway({ assignment: signAssignment(assignment, other.manager) }), 'FW_UNTRUSTED_SIGNER'));
    it('a manifest signed by a revoked release key with FW_REVOKED_SIGNER', () =>
      refuses(gateway({ signedManifest: signManifest(manifest, revokedRelease) }), 'FW_REVOKED_SIGNER'));
    it('an assignment signed by a revoked manager with FW_REVOKED_SIGNER', () =>
      refuses(gateway({ assignment: signAssignment(assignment, revokedManager) }), 'FW_REVOKED_SIGNER'));

    it('an assignment for another manifest with FW_WRONG_MANIFEST', () =>
      refuses(gateway({ assignment: signAssignment({ ...assignment, manifestDigest: 'cd'.repeat(32) }, fleet.manager) }), 'FW_WRONG_MANIFEST'));
    it('a named vehicle without an assignment with FW_MISSING_ASSIGNMENT', () =>
      refuses(gateway({ assignment: undefined }), 'FW_MISSING_ASSIGNMENT'));
    it("another vehicle's assignment with FW_WRONG_VEHICLE", () =>
      refuses(gateway({ expect: { ...expect, vehicleId: 'VIN0002' } }), 'FW_WRONG_VEHICLE'));
    it('an assignment when the caller names no vehicle with FW_WRONG_VEHICLE', () => refuses(gateway({ expect: {} }), 'FW_WRONG_VEHICLE'));
    it("another ECU's assignment with FW_WRONG_ECU", () => refuses(gateway({ expect: { ...expect, ecu: 'body' } }), 'FW_WRONG_ECU'));
    it('an assignment issued in the future with FW_NOT_YET_VALID', () =>
      refuses(gateway({ now: new Date(now.getTime() - 10 * 60_000) }), 'FW_NOT_YET_VALID'));
    it('an assignment at its expiry with FW_EXPIRED', () => refuses(gateway({ now: assignment.expiresAt }), 'FW_EXPIRED'));
    it('an assignment whose nonce was seen with FW_REPLAYED_NONCE', () =>
      refuses(gateway({ seenNonces: new Set([assignment.nonce]) }), 'FW_REPLAYED_NONCE'));
    it('an image for other hardware with FW_WRONG_HARDWARE', () =>
      refuses(gateway({ installed: { counter: 6, hardwareId: 'stm32f103cb' } }), 'FW_WRONG_HARDWARE'));
    it('the installed release counter again with FW_ROLLBACK', () => refuses(gateway({ installed: { ...installed, counter: 7 } }), 'FW_ROLLBACK'));
    it('an older release counter with FW_ROLLBACK', () => refuses(gateway({ installed: { ...installed, counter: 0xffffffff } }), 'FW_ROLLBACK'));
    it('an image one byte short with FW_LENGTH_MISMATCH', () => refuses(gateway({ image: image.subarray(1) }), 'FW_LENGTH_MISMATCH'));
    it('an image with a flipped bit with FW_DIGEST_MISMATCH', () => refuses(gateway({ image: flipBit(image, 1000, 7) }), 'FW_DIGEST_MISMATCH'));
  });

  describe('tampering', () => {
    it('refuses every single-bit flip anywhere in the signed manifest', async () => {
      for (let i = 0; i < signedManifest.length; i++) {
        const input = gateway({ signedManifest: flipBit(signedManifest, i, i % 8), assignment: undefined, expect: {} });
        await assert.rejects(verifyUpdate(input), (e: unknown) => e instanceof OtaError, `accepted a flip at byte ${i}`);
      }
    });
    it('refuses every single-bit flip anywhere in the signed assignment', async () => {
      for (let i = 0; i < signedAssignment.length; i++) {
        await assert.rejects(verifyUpdate(gateway({ assignment: flipBit(signedAssignment, i, (i + 3) % 8) })), (e: unknown) => e instanceof OtaError, `accepted a flip at byte ${i}`);
      }
    });
  });
});
