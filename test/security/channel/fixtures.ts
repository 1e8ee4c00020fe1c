/**
 * Test-time PKI fixtures for the secure-channel tests: one fleet CA with a manager and vehicles in every
 * condition the handshake must refuse. Generated per test process, never written to the repository.
 */
import { X509Certificate } from 'node:crypto';
import { createCa, createCrl, issueCertificate, trustStoreFromPem, type Issued, type TrustStore } from '../../../src/security/pki/index.js';
import { createChannel, type ChannelOptions, type SecureChannel } from '../../../src/security/channel/index.js';

export const VEHICLE_ID = 'VIN-TEST-0001';

export interface Fleet {
  ca: Issued;
  trust: TrustStore;
  /** Trust store whose CRL revokes `revokedVehicle`. */
  trustWithCrl: TrustStore;
  manager: Issued;
  vehicle: Issued;
  otherCaVehicle: Issued;
  expiredVehicle: Issued;
  notYetValidVehicle: Issued;
  revokedVehicle: Issued;
  /** A manager-role certificate whose CN is the vehicle id. */
  wrongRoleVehicle: Issued;
  /** A valid vehicle certificate for another vehicle. */
  otherVehicle: Issued;
  otherCaManager: Issued;
}

let cached: Promise<Fleet> | undefined;

/** The fixtures, generated once per process. */
export function fleet(): Promise<Fleet> {
  cached ??= makeFleet();
  return cached;
}

async function makeFleet(): Promise<Fleet> {
  const now = Date.now();
  const ca = await createCa({ name: 'Channel Test Fleet CA' });
  const otherCa = await createCa({ name: 'Rogue CA' });
  const vehicle = (name = VEHICLE_ID, extra: { notBefore?: Date; notAfter?: Date } = {}): Promise<Issued> =>
    issueCertificate(ca, { role: 'vehicle', name, ...extra });
  const revokedVehicle = await vehicle();
  const crlPem = await createCrl(ca, [{ serial: new X509Certificate(revokedVehicle.certPem).serialNumber, revokedAt: new Date(now - 60_000) }], {
    crlNumber: 1,
  });
  return {
    ca,
    trust: await trustStoreFromPem(ca.certPem),
    trustWithCrl: await trustStoreFromPem(ca.certPem, crlPem),
    manager: await issueCertificate(ca, { role: 'manager', name: 'manager-1' }),
    vehicle: await vehicle(),
    otherCaVehicle: await issueCertificate(otherCa, { role: 'vehicle', name: VEHICLE_ID }),
    expiredVehicle: await vehicle(VEHICLE_ID, { notBefore: new Date(now - 1_800_000), notAfter: new Date(now - 60_000) }),
    notYetValidVehicle: await vehicle(VEHICLE_ID, { notBefore: new Date(now + 86_400_000), notAfter: new Date(now + 2 * 86_400_000) }),
    revokedVehicle,
    wrongRoleVehicle: await issueCertificate(ca, { role: 'manager', name: VEHICLE_ID }),
    otherVehicle: await vehicle('VIN-TEST-0002'),
    otherCaManager: await issueCertificate(otherCa, { role: 'manager', name: 'manager-1' }),
  };
}

/** A vehicle (initiator) and a manager (responder) channel, not yet started. */
export async function pair(
  opts: { vehicle?: Partial<ChannelOptions>; manager?: Partial<ChannelOptions> } = {},
): Promise<{ vehicle: SecureChannel; manager: SecureChannel; f: Fleet }> {
  const f = await fleet();
  const vehicle = createChannel({ role: 'vehicle', ...f.vehicle, trust: f.trust, expectPeer: { role: 'manager' }, ...opts.vehicle });
  const manager = createChannel({
    role: 'manager',
    ...f.manager,
    trust: f.trust,
    expectPeer: { role: 'vehicle', cn: VEHICLE_ID },
    ...opts.manager,
  });
  return { vehicle, manager, f };
}

/** Run the three-message handshake to completion. */
export async function handshake(vehicle: SecureChannel, manager: SecureChannel): Promise<void> {
  const ch = await vehicle.start();
  const sh = await manager.handle(ch);
  if (!sh.reply) throw new Error('no ServerHello');
  const cf = await vehicle.handle(sh.reply);
  if (!cf.reply || !cf.established) throw new Error('no Finished');
  const done = await manager.handle(cf.reply);
  if (!done.established || done.reply) throw new Error('responder not established');
}

/** An established vehicle/manager pair. */
export async function established(opts: Parameters<typeof pair>[0] = {}): Promise<{ vehicle: SecureChannel; manager: SecureChannel; f: Fleet }> {
  const p = await pair(opts);
  await handshake(p.vehicle, p.manager);
  return p;
}

/** A copy of `bytes` with bit `bit` of byte `index` flipped. */
export function flip(bytes: Uint8Array, index: number, bit = 0): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[index] = (out[index] as number) ^ (1 << bit);
  return out;
}

/** JSON snapshot of everything observable about a channel (for "no state change" assertions). */
export function snapshot(c: SecureChannel): string {
  const { refused: _refused, ...counters } = c.stats;
  return JSON.stringify({ state: c.state, suite: c.suite, sid: c.sessionId ? Buffer.from(c.sessionId).toString('hex') : null, counters, peer: c.peer?.cn });
}
