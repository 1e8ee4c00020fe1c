/**
 * The bootloader's revocation list (docs/flash-sequence.md, routine 0x0203): the gateway hands the fleet
 * CA's CRL to the ECU in the programming session, after SecurityAccess and before routine 0xFF01, so an
 * ECU started without a CRL still refuses a manifest whose release certificate was revoked later.
 *
 * Routine 0x0203 installRevocationList, option record = the CRL (DER). The ECU accepts it only when it
 * is signed by the fleet CA it trusts and its cRLNumber is above the one it holds; then it persists the
 * CRL (state.json, slot 0xFD03) before answering, and judges every later 0xFF01 by it (also after a
 * reset). routineStatusRecord: 0x00 installed, 0x01 kept (not newer: the held one stays).
 * NRC 0x31 requestOutOfRange: not a CRL (or empty); NRC 0x22 conditionsNotCorrect: no trust anchor
 * configured, or not signed by the fleet CA. DID 0xFD02 reads the number of the CRL 0x0203 installed
 * (u32, 0 = none).
 */
import { NRC, UdsNegativeError } from '../../protocol/uds/nrc.js';
import { newerTrust, type TrustStore } from '../../security/pki/index.js';
import { isOtaError } from '../../protocol/errors.js';
import { CRL_ROUTINE_STATUS, ECU_DID } from './constants.js';
import type { ServerCore } from './core.js';

/** The trust a dependency check uses: the configured CA and CRL, or the CRL installed since, if newer. */
const derived = new WeakMap<TrustStore, { der: string; trust: TrustStore }>();

export async function effectiveTrust(core: ServerCore): Promise<TrustStore | undefined> {
  const base = core.config.trust;
  if (base === undefined) return undefined;
  const stored = core.nvm.state.readDid(ECU_DID.revocationListStore);
  if (stored === undefined) return base;
  const key = Buffer.from(stored).toString('hex');
  const cached = derived.get(base);
  if (cached?.der === key) return cached.trust;
  let trust = base;
  try {
    trust = (await newerTrust(base, stored)) ?? base;
  } catch {
    trust = base; // older than the configured one (or unusable): the configured CRL governs
  }
  derived.set(base, { der: key, trust });
  return trust;
}

/** Routine 0x0203 startRoutine: verify, compare, persist. Returns the routineStatusRecord. */
export async function installRevocationList(core: ServerCore, crl: Uint8Array): Promise<Uint8Array> {
  if (crl.length === 0) throw new UdsNegativeError(NRC.requestOutOfRange, 'installRevocationList needs the CRL as its option record');
  const held = await effectiveTrust(core);
  if (held === undefined) throw new UdsNegativeError(NRC.conditionsNotCorrect, 'this ECU has no trusted fleet CA configured');
  let next: TrustStore | undefined;
  try {
    next = await newerTrust(held, crl);
  } catch (e) {
    const code = isOtaError(e) ? e.code : '';
    if (code === 'PKI_CRL_STALE') return Uint8Array.of(CRL_ROUTINE_STATUS.kept);
    if (code === 'PKI_UNTRUSTED') throw new UdsNegativeError(NRC.conditionsNotCorrect, 'the CRL is not signed by the fleet CA', { cause: e });
    throw new UdsNegativeError(NRC.requestOutOfRange, 'the option record is not a CRL', { cause: e });
  }
  if (next?.crl === undefined) return Uint8Array.of(CRL_ROUTINE_STATUS.kept);
  // Durable before the positive response; the number first, so a torn pair can only under-report it.
  core.nvm.state.writeDid(ECU_DID.revocationListNumber, u32(next.crl.number));
  core.nvm.state.writeDid(ECU_DID.revocationListStore, next.crl.der);
  return Uint8Array.of(CRL_ROUTINE_STATUS.installed);
}

function u32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, Math.min(n, 0xffffffff));
  return out;
}
