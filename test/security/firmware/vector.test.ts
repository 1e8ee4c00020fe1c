// docs/test-vectors/manifest-signature.json: the fixed-key vector a C verifier (the ECU bootloader) checks.
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { signBody, verifyBody } from '../../../src/security/firmware/envelope.js';
import { decodeSignedManifest, encodeManifest, type Manifest } from '../../../src/security/firmware/manifest.js';
import { verifyUpdate } from '../../../src/security/firmware/verify.js';
import { trustStoreFromPem } from '../../../src/security/pki/verify.js';
import { repoRoot } from '../../helpers/ota-cli.js';

interface Vector {
  privateKeyHex: string;
  privateKeyPkcs8Pem: string;
  publicKeyUncompressedHex: string;
  publicKeySpkiPem: string;
  image: { length: number };
  manifest: Manifest;
  manifestHex: string;
  manifestSha256Hex: string;
  signatureRawHex: string;
  signatureDerHex: string;
  signedManifest: { verifyAt: string; caPem: string; releaseCertPem: string; hex: string; sha256Hex: string };
}

const v = JSON.parse(readFileSync(join(repoRoot, 'docs', 'test-vectors', 'manifest-signature.json'), 'utf8')) as Vector;
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

describe('manifest signature test vector', () => {
  const key = createPrivateKey(v.privateKeyPkcs8Pem);
  const pub = createPublicKey(v.publicKeySpkiPem);

  it('states one key pair: the PKCS#8 key has scalar d and public point Q as given', () => {
    const jwk = key.export({ format: 'jwk' });
    assert.equal(Buffer.from(jwk.d ?? '', 'base64url').toString('hex'), v.privateKeyHex);
    const q = createPublicKey(key).export({ format: 'jwk' });
    const uncompressed = '04' + Buffer.from(q.x ?? '', 'base64url').toString('hex') + Buffer.from(q.y ?? '', 'base64url').toString('hex');
    assert.equal(uncompressed, v.publicKeyUncompressedHex);
    assert.ok(createPublicKey(key).equals(pub));
  });
  it('the image is 1024 bytes i mod 256 and its SHA-256 is the manifest sha256', () => {
    const image = Uint8Array.from({ length: v.image.length }, (_, i) => i & 0xff);
    assert.equal(createHash('sha256').update(image).digest('hex'), v.manifest.sha256);
  });
  it('the canonical encoding of the stated manifest is the stated bytes, with the stated SHA-256', () => {
    const encoded = encodeManifest(v.manifest);
    assert.equal(Buffer.from(encoded).toString('hex'), v.manifestHex);
    assert.equal(createHash('sha256').update(encoded).digest('hex'), v.manifestSha256Hex);
  });
  it('the stated r‖s signature verifies (and is low-S), as does its DER form', () => {
    assert.ok(verifyBody(bytes(v.manifestHex), bytes(v.signatureRawHex), pub));
    assert.ok(verify('sha256', bytes(v.manifestHex), { key: pub, dsaEncoding: 'der' }, bytes(v.signatureDerHex)));
  });
  it('a signature made now with the vector key verifies too (signatures are randomized)', () => {
    const fresh = signBody(bytes(v.manifestHex), key);
    assert.ok(verifyBody(bytes(v.manifestHex), fresh, pub));
  });
  it('the stated signed manifest decodes to the same manifest and is accepted under its CA', async () => {
    const signed = bytes(v.signedManifest.hex);
    const d = decodeSignedManifest(signed);
    assert.deepEqual(d.manifest, v.manifest);
    assert.equal(Buffer.from(d.manifestBytes).toString('hex'), v.manifestHex);
    assert.equal(d.digest, v.signedManifest.sha256Hex);
    const trust = await trustStoreFromPem(v.signedManifest.caPem);
    const image = Uint8Array.from({ length: v.image.length }, (_, i) => i & 0xff);
    const ok = await verifyUpdate({ signedManifest: signed, image, expect: {}, trust, now: new Date(v.signedManifest.verifyAt) });
    assert.equal(ok.releaseSigner.cn, 'test-vector-release');
  });
});
