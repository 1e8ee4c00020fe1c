/** A PKI made with the `ota pki` code in a temp directory, and a TLS broker for it (test/gateway/harness.ts). */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initPki, issueToDir, loadIssued, trustStoreFromPem } from '../../../src/security/pki/index.js';
import { TestBroker, type Fleet } from '../../gateway/harness.js';

export interface SimFixture {
  dir: string;
  pki: string;
  fleet: Fleet;
  broker: TestBroker;
}

/** `<dir>/pki` with broker, manager and vehicle `vehicleId`; a broker started on it. */
export async function simFixture(vehicleId: string): Promise<SimFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'ota-sim-'));
  const pki = join(dir, 'pki');
  await initPki(pki);
  await issueToDir(pki, { role: 'broker', name: 'broker', san: ['IP:127.0.0.1'] });
  await issueToDir(pki, { role: 'manager', name: 'manager' });
  await issueToDir(pki, { role: 'vehicle', name: vehicleId });
  const ca = await loadIssued(pki, 'ca');
  const crlPem = readFileSync(join(pki, 'crl.pem'), 'utf8');
  const manager = await loadIssued(pki, 'manager');
  const fleet: Fleet = {
    ca,
    crlPem,
    trust: await trustStoreFromPem(ca.certPem, crlPem),
    broker: await loadIssued(pki, 'broker'),
    manager,
    vehicle: await loadIssued(pki, vehicleId),
    vehicleId,
    rogueManager: manager,
  };
  const broker = new TestBroker(fleet);
  await broker.start();
  return { dir, pki, fleet, broker };
}
