import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate as NodeX509 } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCa, createCrl, issueCertificate } from '../../../src/security/pki/ca.js';
import { EKU_OID, ROLE_POLICY_OID } from '../../../src/security/pki/roles.js';
import { x509 } from '../../../src/security/pki/x509.js';
import { makeFleet, tempDir, type Fleet } from './fixtures.js';

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => (e as { code?: unknown }).code === code);
}

describe('createCa', () => {
  it('makes a self-signed ECDSA P-256 v3 CA with critical basicConstraints and keyUsage, and an SKI', async () => {
    const ca = await createCa({ name: 'Fleet CA', validityDays: 30 });
    const cert = new x509.X509Certificate(ca.certPem);
    assert.equal(cert.subject, 'CN=Fleet CA');
    assert.equal(cert.issuer, 'CN=Fleet CA');
    assert.ok(await cert.verify({ signatureOnly: true }));
    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    assert.equal(bc?.ca, true);
    assert.equal(bc?.critical, true);
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    assert.equal(ku?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    assert.equal(ku?.critical, true);
    assert.ok(cert.getExtension(x509.SubjectKeyIdentifierExtension));
    const node = new NodeX509(ca.certPem);
    assert.equal(node.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----/);
    const days = (cert.notAfter.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30);
  });
  it('refuses a name with control characters with PKI_BAD_NAME', async () => {
    await rejects(createCa({ name: 'bad\nname' }), 'PKI_BAD_NAME');
  });
});

describe('issueCertificate', () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await makeFleet();
  });

  it('puts the role in a certificate policy and the EKU, with critical keyUsage digitalSignature and an AKI', () => {
    const expected = [
      [fleet.broker, 'broker', EKU_OID.serverAuth],
      [fleet.manager, 'manager', EKU_OID.clientAuth],
      [fleet.vehicle, 'vehicle', EKU_OID.clientAuth],
      [fleet.release, 'release', EKU_OID.codeSigning],
    ] as const;
    const caSki = new x509.X509Certificate(fleet.ca.certPem).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    for (const [issued, role, eku] of expected) {
      const cert = new x509.X509Certificate(issued.certPem);
      assert.deepEqual([...(cert.getExtension(x509.CertificatePolicyExtension)?.policies ?? [])], [ROLE_POLICY_OID[role]]);
      assert.deepEqual([...(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])], [eku]);
      const ku = cert.getExtension(x509.KeyUsagesExtension);
      assert.equal(ku?.usages, x509.KeyUsageFlags.digitalSignature);
      assert.equal(ku?.critical, true);
      assert.equal(cert.getExtension(x509.BasicConstraintsExtension)?.ca, false);
      assert.equal(cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId, caSki);
      // RFC 5280 §4.1.2.2: positive, ≤ 20 octets; ours are 16 random octets.
      assert.match(cert.serialNumber, /^[0-7][0-9a-f]{31}$/);
    }
  });
  it('makes the vehicle id the subject CN', () => {
    assert.equal(new x509.X509Certificate(fleet.vehicle.certPem).subject, 'CN=VIN0001');
  });
  it('puts DNS and IP SANs in a broker certificate', () => {
    const san = new x509.X509Certificate(fleet.broker.certPem).getExtension(x509.SubjectAlternativeNameExtension);
    assert.deepEqual(san?.names.toJSON(), [
      { type: 'dns', value: 'localhost' },
      { type: 'ip', value: '127.0.0.1' },
    ]);
  });
  it('defaults a broker SAN to its name', async () => {
    const b = await issueCertificate(fleet.ca, { role: 'broker', name: 'mqtt.example.com' });
    const san = new x509.X509Certificate(b.certPem).getExtension(x509.SubjectAlternativeNameExtension);
    assert.deepEqual(san?.names.toJSON(), [{ type: 'dns', value: 'mqtt.example.com' }]);
  });
  it('draws a different serial every time', async () => {
    const a = new x509.X509Certificate(fleet.manager.certPem).serialNumber;
    const b = new x509.X509Certificate(fleet.vehicle.certPem).serialNumber;
    assert.notEqual(a, b);
  });
  const refusals: [string, Parameters<typeof issueCertificate>[1], string][] = [
    ['a name with a slash', { role: 'vehicle', name: '../etc' }, 'PKI_BAD_NAME'],
    ['an empty name', { role: 'vehicle', name: '' }, 'PKI_BAD_NAME'],
    ['a SAN that is not a host', { role: 'broker', name: 'b', san: ['not a host!'] }, 'PKI_BAD_SAN'],
    ['an IP: SAN that is not an address', { role: 'broker', name: 'b', san: ['IP:example.com'] }, 'PKI_BAD_SAN'],
    ['notAfter before notBefore', { role: 'vehicle', name: 'v', notBefore: new Date(2030, 0, 2), notAfter: new Date(2030, 0, 1) }, 'PKI_BAD_VALIDITY'],
    ['notAfter beyond the CA', { role: 'vehicle', name: 'v', notAfter: new Date(Date.now() + 40 * 365 * 86_400_000) }, 'PKI_BAD_VALIDITY'],
    ['zero validity days', { role: 'vehicle', name: 'v', validityDays: 0 }, 'PKI_BAD_VALIDITY'],
    ['an unknown role', { role: 'admin' as 'vehicle', name: 'v' }, 'PKI_WRONG_ROLE'],
  ];
  for (const [name, opts, code] of refusals) {
    it(`refuses ${name} with ${code}`, async () => rejects(issueCertificate(fleet.ca, opts), code));
  }
});

describe('OpenSSL interoperability', () => {
  let fleet: Fleet;
  let dir: string;
  let cleanup: () => Promise<void>;
  const openssl = (...args: string[]): { status: number | null; out: string } => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', timeout: 10_000 });
    return { status: r.status, out: r.stdout + r.stderr };
  };
  const hasOpenssl = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;

  before(async () => {
    ({ dir, cleanup } = await tempDir('openssl'));
    fleet = await makeFleet();
    const revokedSerial = new x509.X509Certificate(fleet.manager.certPem).serialNumber;
    await writeFile(join(dir, 'ca.pem'), fleet.ca.certPem);
    for (const name of ['broker', 'manager', 'vehicle', 'release'] as const) await writeFile(join(dir, `${name}.pem`), fleet[name].certPem);
    await writeFile(join(dir, 'crl.pem'), await createCrl(fleet.ca, [{ serial: revokedSerial, revokedAt: new Date() }], { crlNumber: 2 }));
  });
  after(async () => cleanup());

  it('openssl verify accepts every role certificate against ca.pem', { skip: !hasOpenssl && 'openssl not on PATH' }, () => {
    for (const name of ['broker', 'manager', 'vehicle', 'release']) {
      const r = openssl('verify', '-CAfile', 'ca.pem', `${name}.pem`);
      assert.equal(r.status, 0, r.out);
      assert.match(r.out, /: OK/);
    }
  });
  it('openssl verify -purpose accepts the broker as TLS server and the vehicle as TLS client', { skip: !hasOpenssl && 'openssl not on PATH' }, () => {
    assert.equal(openssl('verify', '-purpose', 'sslserver', '-CAfile', 'ca.pem', 'broker.pem').status, 0);
    assert.equal(openssl('verify', '-purpose', 'sslclient', '-CAfile', 'ca.pem', 'vehicle.pem').status, 0);
    assert.notEqual(openssl('verify', '-purpose', 'sslserver', '-CAfile', 'ca.pem', 'vehicle.pem').status, 0);
  });
  it('openssl verify -crl_check refuses the revoked certificate and accepts the others', { skip: !hasOpenssl && 'openssl not on PATH' }, () => {
    const revoked = openssl('verify', '-crl_check', '-CRLfile', 'crl.pem', '-CAfile', 'ca.pem', 'manager.pem');
    assert.notEqual(revoked.status, 0);
    assert.match(revoked.out, /certificate revoked/);
    const good = openssl('verify', '-crl_check', '-CRLfile', 'crl.pem', '-CAfile', 'ca.pem', 'vehicle.pem');
    assert.equal(good.status, 0, good.out);
  });
  it('openssl crl reads the CRL as a v2 CRL signed by the CA', { skip: !hasOpenssl && 'openssl not on PATH' }, () => {
    const r = openssl('crl', '-in', 'crl.pem', '-CAfile', 'ca.pem', '-noout', '-text');
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /verify OK/);
    assert.match(r.out, /Version 2/);
    assert.match(r.out, /CRL Number/);
  });
});
