// The CRL as parts pass it on (src/security/pki/crl.ts) and the live trust of a PKI directory (live.ts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OtaError } from '../../../src/protocol/errors.js';
import {
  createCa,
  createCrl,
  crlPem,
  initPki,
  issueToDir,
  loadIssued,
  newerTrust,
  normalizeSerial,
  revoke,
  trustStoreFromPem,
  watchTrustDir,
  type TrustStore,
} from '../../../src/security/pki/index.js';
import { makeFleet, tempDir, type Fleet } from './fixtures.js';
import { X509Certificate } from 'node:crypto';

const isCode = (code: string) => (e: unknown): boolean => e instanceof OtaError && e.code === code;
const serialOf = (pem: string): string => normalizeSerial(new X509Certificate(pem).serialNumber);

describe('newerTrust', () => {
  let fleet: Fleet;
  let held: TrustStore;
  before(async () => {
    fleet = await makeFleet('CRL Test CA');
    held = await trustStoreFromPem(fleet.ca.certPem, await createCrl(fleet.ca, [], { crlNumber: 5 }));
  });
  const crl = (serials: string[], crlNumber: number, ca = fleet.ca): Promise<string> =>
    createCrl(ca, serials.map((serial) => ({ serial, revokedAt: new Date() })), { crlNumber });

  it('a trust store built with a CRL knows its number and DER', () => {
    assert.equal(held.crl?.number, 5);
    assert.ok((held.crl?.der.length ?? 0) > 100);
  });

  it('accepts a newer CRL of the CA (PEM or DER) and revokes what it lists', async () => {
    const pem = await crl([serialOf(fleet.release.certPem)], 6);
    const next = await newerTrust(held, pem);
    assert.equal(next?.crl?.number, 6);
    assert.ok(next?.revoked.has(serialOf(fleet.release.certPem)));
    const fromDer = await newerTrust(held, next?.crl?.der as Uint8Array);
    assert.equal(fromDer?.crl?.number, 6);
    assert.equal(crlPem(next?.crl?.der as Uint8Array).startsWith('-----BEGIN X509 CRL-----'), true);
  });

  it('the very CRL held → undefined (nothing to do)', async () => {
    assert.equal(await newerTrust(held, held.crl?.der as Uint8Array), undefined);
  });

  it('RFC 5280 §5.2.3: an older number, or another list under the held number → PKI_CRL_STALE', async () => {
    await assert.rejects(newerTrust(held, await crl([], 4)), isCode('PKI_CRL_STALE'));
    await assert.rejects(newerTrust(held, await crl([serialOf(fleet.vehicle.certPem)], 5)), isCode('PKI_CRL_STALE'));
  });

  it('RFC 5280 §6.3.3 (f): a CRL of another CA → PKI_UNTRUSTED', async () => {
    const other = await createCa({ name: 'CRL Test CA' }); // same name, other key
    await assert.rejects(newerTrust(held, await crl([], 99, other)), isCode('PKI_UNTRUSTED'));
  });

  it('not a CRL, empty, or DER with trailing bytes → PKI_MALFORMED', async () => {
    await assert.rejects(newerTrust(held, Uint8Array.of(1, 2, 3)), isCode('PKI_MALFORMED'));
    await assert.rejects(newerTrust(held, new Uint8Array(0)), isCode('PKI_MALFORMED'));
    const der = held.crl?.der as Uint8Array;
    await assert.rejects(newerTrust(held, Uint8Array.from([...der, 0])), isCode('PKI_MALFORMED'));
  });
});

describe('watchTrustDir', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    tmp = await tempDir('live-trust');
    await initPki(tmp.dir, { name: 'Live Trust CA' });
    await issueToDir(tmp.dir, { role: 'vehicle', name: 'VIN-LIVE-1' });
  });
  after(() => tmp.cleanup());

  it('follows `ota pki revoke` (listeners hear the new number), and fails closed on a broken crl.pem until it is valid again', async () => {
    const live = await watchTrustDir(tmp.dir, { pollMs: 100 });
    try {
      const first = await live.current();
      const heard = new Promise<TrustStore>((resolve) => live.onChange(resolve));
      await revoke(tmp.dir, 'VIN-LIVE-1');
      const changed = await heard;
      assert.equal(changed.crl?.number, (first.crl?.number ?? 0) + 1);
      assert.ok(changed.revoked.has(serialOf((await loadIssued(tmp.dir, 'VIN-LIVE-1')).certPem)));

      const good = await readFile(join(tmp.dir, 'crl.pem'), 'utf8');
      await writeFile(join(tmp.dir, 'crl.pem.tmp'), 'not a CRL');
      await rename(join(tmp.dir, 'crl.pem.tmp'), join(tmp.dir, 'crl.pem'));
      await assert.rejects(live.current(), isCode('PKI_TRUST_UNAVAILABLE'));
      await writeFile(join(tmp.dir, 'crl.pem.tmp'), good);
      await rename(join(tmp.dir, 'crl.pem.tmp'), join(tmp.dir, 'crl.pem'));
      assert.equal((await live.current()).crl?.number, changed.crl?.number);
    } finally {
      live.close();
    }
  });
});
