import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createCa, createCrl, issueCertificate } from '../../../src/security/pki/ca.js';
import { ROLE_EKU, ROLE_POLICY_OID, EKU_OID } from '../../../src/security/pki/roles.js';
import { trustStoreFromPem, verifyCertificate, type TrustStore } from '../../../src/security/pki/verify.js';
import { x509 } from '../../../src/security/pki/x509.js';
import { craftCertificate, derOf, flipBit, makeFleet, type Fleet } from './fixtures.js';

const DAY = 86_400_000;

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.equal((e as { code?: unknown }).code, code);
    return true;
  });
}

describe('verifyCertificate', () => {
  let fleet: Fleet;
  let trust: TrustStore;
  before(async () => {
    fleet = await makeFleet();
    trust = await trustStoreFromPem(fleet.ca.certPem);
  });

  describe('when the certificate is good', () => {
    it('accepts each role and returns its identity', async () => {
      for (const [role, issued, cn] of [
        ['broker', fleet.broker, 'broker'],
        ['manager', fleet.manager, 'manager-1'],
        ['vehicle', fleet.vehicle, 'VIN0001'],
        ['release', fleet.release, 'release-2026'],
      ] as const) {
        const id = await verifyCertificate(issued.certPem, trust, { role, cn });
        assert.equal(id.cn, cn);
        assert.equal(id.role, role);
        assert.match(id.serial, /^[0-7][0-9a-f]{31}$/);
        assert.equal(id.publicKey.asymmetricKeyType, 'ec');
        assert.deepEqual(id.certDer, derOf(issued.certPem));
        assert.ok(id.notAfter.getTime() > Date.now());
      }
    });
    it('accepts DER as well as PEM', async () => {
      const id = await verifyCertificate(derOf(fleet.vehicle.certPem), trust, { role: 'vehicle' });
      assert.equal(id.cn, 'VIN0001');
    });
  });

  describe('malformed input', () => {
    const cases: [string, string | Uint8Array][] = [
      ['empty bytes', new Uint8Array()],
      ['empty string', ''],
      ['random bytes', Uint8Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff)],
      ['a PEM with garbage', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'],
      ['oversized input', new Uint8Array(40_000)],
    ];
    for (const [name, input] of cases) {
      it(`refuses ${name} with PKI_MALFORMED`, async () => rejects(verifyCertificate(input, trust, { role: 'vehicle' }), 'PKI_MALFORMED'));
    }
    it('refuses DER with a trailing byte with PKI_MALFORMED', async () => {
      const der = derOf(fleet.vehicle.certPem);
      await rejects(verifyCertificate(Uint8Array.from([...der, 0]), trust, { role: 'vehicle' }), 'PKI_MALFORMED');
    });
    it('refuses a P-384 key with PKI_MALFORMED', async () => {
      const pem = await craftCertificate(fleet.ca, { cn: 'VIN9', curve: 'P-384', extensions: roleExtensions('vehicle') });
      await rejects(verifyCertificate(pem, trust, { role: 'vehicle' }), 'PKI_MALFORMED');
    });
  });

  describe('RFC 5280 §6.1.3: signature by the fleet CA', () => {
    it('refuses a certificate of another CA with PKI_UNTRUSTED', async () => {
      const other = await makeFleet('Other CA');
      await rejects(verifyCertificate(other.vehicle.certPem, trust, { role: 'vehicle' }), 'PKI_UNTRUSTED');
    });
    it('refuses a certificate of another CA with the same name with PKI_UNTRUSTED', async () => {
      const twin = await createCa({ name: 'Test Fleet CA' });
      const forged = await issueCertificate(twin, { role: 'vehicle', name: 'VIN0001' });
      await rejects(verifyCertificate(forged.certPem, trust, { role: 'vehicle', cn: 'VIN0001' }), 'PKI_UNTRUSTED');
    });
    it('refuses a certificate whose subject was altered with PKI_UNTRUSTED', async () => {
      const der = derOf(fleet.vehicle.certPem);
      const at = Buffer.from(der).indexOf(Buffer.from('VIN0001'));
      assert.ok(at > 0);
      await rejects(verifyCertificate(flipBit(der, at + 6, 0), trust, { role: 'vehicle' }), 'PKI_UNTRUSTED');
    });
    it('refuses a certificate whose signature was altered with PKI_UNTRUSTED', async () => {
      const der = derOf(fleet.vehicle.certPem);
      await rejects(verifyCertificate(flipBit(der, der.length - 2, 3), trust, { role: 'vehicle' }), 'PKI_UNTRUSTED');
    });
    it('refuses every single-bit flip of a certificate with PKI_UNTRUSTED or PKI_MALFORMED', async () => {
      const der = derOf(fleet.manager.certPem);
      for (let i = 0; i < der.length; i++) {
        await assert.rejects(
          verifyCertificate(flipBit(der, i, (i * 5) % 8), trust, { role: 'manager' }),
          (e: unknown) => ['PKI_UNTRUSTED', 'PKI_MALFORMED'].includes((e as { code?: string }).code ?? ''),
          `flip at byte ${i}`,
        );
      }
    });
    it('refuses the CA certificate itself as a peer with PKI_WRONG_ROLE', async () => {
      await rejects(verifyCertificate(fleet.ca.certPem, trust, { role: 'manager' }), 'PKI_WRONG_ROLE');
    });
  });

  describe('validity period', () => {
    it('refuses an expired certificate with PKI_EXPIRED', async () => {
      const old = await issueCertificate(fleet.ca, {
        role: 'vehicle',
        name: 'VIN-OLD',
        notBefore: new Date(Date.now() - 10 * DAY),
        notAfter: new Date(Date.now() - DAY),
      });
      await rejects(verifyCertificate(old.certPem, trust, { role: 'vehicle' }), 'PKI_EXPIRED');
    });
    it('refuses a good certificate checked after its notAfter with PKI_EXPIRED', async () => {
      await rejects(verifyCertificate(fleet.vehicle.certPem, trust, { role: 'vehicle', now: new Date(Date.now() + 400 * DAY) }), 'PKI_EXPIRED');
    });
    it('refuses a valid leaf outside its CA\'s validity with PKI_NOT_YET_VALID / PKI_EXPIRED', async () => {
      const shortCa = await createCa({ name: 'Short CA', validityDays: 2 });
      const pem = await craftCertificate(shortCa, {
        cn: 'VIN7',
        extensions: roleExtensions('vehicle'),
        notBefore: new Date(Date.now() - 10 * DAY),
        notAfter: new Date(Date.now() + 10 * DAY),
      });
      const t = await trustStoreFromPem(shortCa.certPem);
      await verifyCertificate(pem, t, { role: 'vehicle' });
      await rejects(verifyCertificate(pem, t, { role: 'vehicle', now: new Date(Date.now() - 5 * DAY) }), 'PKI_NOT_YET_VALID');
      await rejects(verifyCertificate(pem, t, { role: 'vehicle', now: new Date(Date.now() + 5 * DAY) }), 'PKI_EXPIRED');
    });
    it('refuses a certificate before its notBefore with PKI_NOT_YET_VALID', async () => {
      const future = await issueCertificate(fleet.ca, {
        role: 'vehicle',
        name: 'VIN-FUTURE',
        notBefore: new Date(Date.now() + DAY),
        notAfter: new Date(Date.now() + 10 * DAY),
      });
      await rejects(verifyCertificate(future.certPem, trust, { role: 'vehicle' }), 'PKI_NOT_YET_VALID');
    });
  });

  describe('revocation', () => {
    it('refuses a certificate listed in the CA-signed CRL with PKI_REVOKED', async () => {
      const serial = new x509.X509Certificate(fleet.manager.certPem).serialNumber;
      const crl = await createCrl(fleet.ca, [{ serial, revokedAt: new Date() }], { crlNumber: 2 });
      const withCrl = await trustStoreFromPem(fleet.ca.certPem, crl);
      await rejects(verifyCertificate(fleet.manager.certPem, withCrl, { role: 'manager' }), 'PKI_REVOKED');
      // Others stay valid.
      await verifyCertificate(fleet.vehicle.certPem, withCrl, { role: 'vehicle' });
    });
    it('refuses a CRL signed by another CA with PKI_UNTRUSTED', async () => {
      const other = await makeFleet('Other CA');
      const crl = await createCrl(other.ca, [], { crlNumber: 1 });
      await rejects(trustStoreFromPem(fleet.ca.certPem, crl), 'PKI_UNTRUSTED');
    });
    it('refuses a CRL whose revoked serial was altered with PKI_UNTRUSTED', async () => {
      const crl = await createCrl(fleet.ca, [{ serial: '01', revokedAt: new Date() }], { crlNumber: 3 });
      const der = new Uint8Array(new x509.X509Crl(crl).rawData);
      const at = Buffer.from(der).indexOf(Buffer.from([0x02, 0x01, 0x01])); // the revoked serial INTEGER 1
      const tampered = x509.PemConverter.encode(flipBit(der, at + 2, 1).buffer as ArrayBuffer, 'X509 CRL');
      await rejects(trustStoreFromPem(fleet.ca.certPem, tampered), 'PKI_UNTRUSTED');
    });
    it('refuses a leaf certificate as trust anchor with PKI_UNTRUSTED', async () => {
      await rejects(trustStoreFromPem(fleet.vehicle.certPem), 'PKI_UNTRUSTED');
    });
  });

  describe('role', () => {
    it('refuses a vehicle certificate where a manager is expected with PKI_WRONG_ROLE', async () => {
      await rejects(verifyCertificate(fleet.vehicle.certPem, trust, { role: 'manager' }), 'PKI_WRONG_ROLE');
    });
    it('refuses a manager certificate where a release key is expected with PKI_WRONG_ROLE', async () => {
      await rejects(verifyCertificate(fleet.manager.certPem, trust, { role: 'release' }), 'PKI_WRONG_ROLE');
    });
    const crafted: [string, () => x509.Extension[]][] = [
      ['no role policy', () => roleExtensions('manager').filter((e) => !(e instanceof x509.CertificatePolicyExtension))],
      ['two role policies', () => [...roleExtensions('manager').filter((e) => !(e instanceof x509.CertificatePolicyExtension)), new x509.CertificatePolicyExtension([ROLE_POLICY_OID.manager, ROLE_POLICY_OID.vehicle])]],
      ['the manager policy but serverAuth EKU', () => [...roleExtensions('manager').filter((e) => !(e instanceof x509.ExtendedKeyUsageExtension)), new x509.ExtendedKeyUsageExtension([EKU_OID.serverAuth])]],
      ['no key usage', () => roleExtensions('manager').filter((e) => !(e instanceof x509.KeyUsagesExtension))],
    ];
    for (const [name, extensions] of crafted) {
      it(`refuses a certificate with ${name} with PKI_WRONG_ROLE`, async () => {
        const pem = await craftCertificate(fleet.ca, { cn: 'manager-x', extensions: extensions() });
        await rejects(verifyCertificate(pem, trust, { role: 'manager' }), 'PKI_WRONG_ROLE');
      });
    }
    it('accepts a crafted certificate with the right extensions (the crafting helper is sound)', async () => {
      const pem = await craftCertificate(fleet.ca, { cn: 'manager-x', extensions: roleExtensions('manager') });
      assert.equal((await verifyCertificate(pem, trust, { role: 'manager' })).cn, 'manager-x');
    });
  });

  describe('subject CN', () => {
    it('refuses another vehicle id with PKI_WRONG_CN', async () => {
      await rejects(verifyCertificate(fleet.vehicle.certPem, trust, { role: 'vehicle', cn: 'VIN0002' }), 'PKI_WRONG_CN');
    });
  });
});

function roleExtensions(role: 'manager' | 'vehicle'): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([ROLE_EKU[role]]),
    new x509.CertificatePolicyExtension([ROLE_POLICY_OID[role]]),
  ];
}
