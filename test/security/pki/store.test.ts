import assert from 'node:assert/strict';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createCrl } from '../../../src/security/pki/ca.js';
import { initPki, issueToDir, listPki, loadIssued, loadTrustStore, revoke, rewriteCrl } from '../../../src/security/pki/store.js';
import { verifyCertificate } from '../../../src/security/pki/verify.js';
import { makeFleet, tempDir } from './fixtures.js';

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => (e as { code?: unknown }).code === code);
}
const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

describe('PKI directory', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    const t = await tempDir('pki');
    dir = join(t.dir, 'pki');
    cleanup = t.cleanup;
  });
  afterEach(async () => cleanup());

  describe('initPki', () => {
    it('writes ca.pem, ca.key (0600), an empty crl.pem and index.json', async () => {
      const index = await initPki(dir, { name: 'Acme Fleet CA' });
      assert.deepEqual((await readdir(dir)).sort(), ['ca.key', 'ca.pem', 'crl.pem', 'index.json']);
      assert.equal(await mode(join(dir, 'ca.key')), 0o600);
      assert.equal(index.ca.name, 'Acme Fleet CA');
      assert.deepEqual(index.certificates, []);
      const trust = await loadTrustStore(dir);
      assert.equal(trust.revoked.size, 0);
      assert.equal(trust.ca.subject, 'CN=Acme Fleet CA');
    });
    it('refuses to replace an existing CA with PKI_EXISTS, and replaces it with force', async () => {
      await initPki(dir);
      const before = await readFile(join(dir, 'ca.pem'), 'utf8');
      await rejects(initPki(dir), 'PKI_EXISTS');
      assert.equal(await readFile(join(dir, 'ca.pem'), 'utf8'), before);
      await initPki(dir, { force: true });
      assert.notEqual(await readFile(join(dir, 'ca.pem'), 'utf8'), before);
    });
  });

  describe('issueToDir', () => {
    beforeEach(async () => {
      await initPki(dir);
    });
    it('writes <name>.pem and <name>.key (0600) and records the certificate in the index', async () => {
      const entry = await issueToDir(dir, { role: 'vehicle', name: 'VIN0001' });
      assert.equal(await mode(join(dir, 'VIN0001.key')), 0o600);
      const { certPem } = await loadIssued(dir, 'VIN0001');
      const id = await verifyCertificate(certPem, await loadTrustStore(dir), { role: 'vehicle', cn: 'VIN0001' });
      assert.equal(id.serial, entry.serial);
      const index = await listPki(dir);
      assert.deepEqual(index.certificates, [entry]);
      assert.equal(entry.revoked, false);
      assert.equal(entry.notAfter, id.notAfter.toISOString());
    });
    it('refuses to overwrite a name with PKI_EXISTS and leaves the files alone', async () => {
      await issueToDir(dir, { role: 'vehicle', name: 'VIN0001' });
      const before = await readFile(join(dir, 'VIN0001.key'), 'utf8');
      await rejects(issueToDir(dir, { role: 'vehicle', name: 'VIN0001' }), 'PKI_EXISTS');
      assert.equal(await readFile(join(dir, 'VIN0001.key'), 'utf8'), before);
      assert.equal((await listPki(dir)).certificates.length, 1);
    });
    it('with force re-issues and revokes the superseded certificate', async () => {
      const old = await issueToDir(dir, { role: 'vehicle', name: 'VIN0001' });
      const oldPem = (await loadIssued(dir, 'VIN0001')).certPem;
      const fresh = await issueToDir(dir, { role: 'vehicle', name: 'VIN0001', force: true });
      const trust = await loadTrustStore(dir);
      await rejects(verifyCertificate(oldPem, trust, { role: 'vehicle' }), 'PKI_REVOKED');
      const id = await verifyCertificate((await loadIssued(dir, 'VIN0001')).certPem, trust, { role: 'vehicle' });
      assert.equal(id.serial, fresh.serial);
      const entries = (await listPki(dir)).certificates;
      assert.deepEqual(entries.map((e) => [e.serial, e.revoked, e.reason]), [
        [old.serial, true, 'superseded'],
        [fresh.serial, false, undefined],
      ]);
    });
    it('refuses reserved and unsafe names with PKI_BAD_NAME', async () => {
      await rejects(issueToDir(dir, { role: 'vehicle', name: 'ca' }), 'PKI_BAD_NAME');
      await rejects(issueToDir(dir, { role: 'vehicle', name: 'CRL' }), 'PKI_BAD_NAME');
      await rejects(issueToDir(dir, { role: 'vehicle', name: '../x' }), 'PKI_BAD_NAME');
    });
    it('refuses to issue without a CA with PKI_NOT_FOUND', async () => {
      await rejects(issueToDir(join(dir, 'nowhere'), { role: 'vehicle', name: 'v' }), 'PKI_NOT_FOUND');
    });
  });

  describe('rewriteCrl', () => {
    it('writes crl.pem again from the index: the revoked stay revoked, with a new CRL number', async () => {
      await initPki(dir);
      await issueToDir(dir, { role: 'vehicle', name: 'VIN0001' });
      await issueToDir(dir, { role: 'vehicle', name: 'VIN0002' });
      const entry = await revoke(dir, 'VIN0001');
      await rm(join(dir, 'crl.pem'));
      const index = await rewriteCrl(dir);
      assert.equal(index.crlNumber, 3);
      const trust = await loadTrustStore(dir);
      assert.deepEqual([...trust.revoked], [entry.serial]);
      await rejects(verifyCertificate((await loadIssued(dir, 'VIN0001')).certPem, trust, { role: 'vehicle' }), 'PKI_REVOKED');
      await verifyCertificate((await loadIssued(dir, 'VIN0002')).certPem, trust, { role: 'vehicle' });
    });
  });

  describe('revoke', () => {
    beforeEach(async () => {
      await initPki(dir);
      await issueToDir(dir, { role: 'manager', name: 'manager-1' });
      await issueToDir(dir, { role: 'vehicle', name: 'VIN0001' });
    });
    it('rewrites crl.pem so every verifier refuses the certificate with PKI_REVOKED', async () => {
      const crlBefore = await readFile(join(dir, 'crl.pem'), 'utf8');
      const entry = await revoke(dir, 'manager-1');
      assert.notEqual(await readFile(join(dir, 'crl.pem'), 'utf8'), crlBefore);
      const trust = await loadTrustStore(dir);
      assert.deepEqual([...trust.revoked], [entry.serial]);
      await rejects(verifyCertificate((await loadIssued(dir, 'manager-1')).certPem, trust, { role: 'manager' }), 'PKI_REVOKED');
      await verifyCertificate((await loadIssued(dir, 'VIN0001')).certPem, trust, { role: 'vehicle' });
      const index = await listPki(dir);
      assert.equal(index.certificates.find((c) => c.name === 'manager-1')?.revoked, true);
      assert.equal(index.crlNumber, 2);
    });
    it('refuses an unknown name with PKI_NOT_FOUND', async () => {
      await rejects(revoke(dir, 'nobody'), 'PKI_NOT_FOUND');
    });
  });

  describe('loadTrustStore', () => {
    it('refuses a crl.pem signed by another CA with PKI_UNTRUSTED', async () => {
      await initPki(dir);
      const other = await makeFleet('Intruder CA');
      await writeFile(join(dir, 'crl.pem'), await createCrl(other.ca, [], { crlNumber: 9 }));
      await rejects(loadTrustStore(dir), 'PKI_UNTRUSTED');
    });
    it('refuses a missing crl.pem with PKI_NOT_FOUND (fails closed: no CRL is not an empty CRL)', async () => {
      await initPki(dir);
      await rm(join(dir, 'crl.pem'));
      await rejects(loadTrustStore(dir), 'PKI_NOT_FOUND');
    });
    it('refuses a missing ca.pem with PKI_NOT_FOUND', async () => {
      await rejects(loadTrustStore(dir), 'PKI_NOT_FOUND');
    });
    it('refuses a corrupt index.json with PKI_MALFORMED', async () => {
      await initPki(dir);
      await writeFile(join(dir, 'index.json'), '{"version":2}');
      await rejects(listPki(dir), 'PKI_MALFORMED');
    });
  });
});
