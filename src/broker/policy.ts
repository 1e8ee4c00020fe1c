/**
 * The broker's admission rules, free of sockets (ARCHITECTURE.md §2.1, docs/connected-system.md):
 * who a client is (its verified certificate), whether its CONNECT may proceed (client id, last will),
 * and the counters of what was refused.
 */
import { PkiError, verifyCertificate, type TrustStore } from '../security/pki/index.js';
import { authorize } from '../security/topics.js';
import { BrokerError } from './errors.js';

/** A connected client's identity, from its certificate. */
export interface Principal {
  role: 'manager' | 'vehicle';
  cn: string;
  serial: string;
  notAfter: Date;
}

/** The client roles the broker admits; brokers and release keys are never MQTT clients. */
const CLIENT_ROLES = ['vehicle', 'manager'] as const;

/**
 * Verify the client's certificate (DER, from the TLS session) against the fleet CA and CRL and find
 * its role. Throws BROKER_NO_CERT, or the PkiError of the first failing check (PKI_REVOKED, …).
 */
export async function identifyClient(certDer: Uint8Array | undefined, trust: TrustStore, now?: Date): Promise<Principal> {
  if (certDer === undefined || certDer.byteLength === 0) throw new BrokerError('BROKER_NO_CERT', 'no client certificate');
  let last: unknown;
  for (const role of CLIENT_ROLES) {
    try {
      const id = await verifyCertificate(certDer, trust, { role, now });
      return { role, cn: id.cn, serial: id.serial, notAfter: id.notAfter };
    } catch (err) {
      // Only a role mismatch means "try the other role"; any other failure is final.
      if (!(err instanceof PkiError) || err.code !== 'PKI_WRONG_ROLE') throw err;
      last = err;
    }
  }
  throw last;
}

/**
 * The CONNECT checks after the certificate: a vehicle's client id is its CN (one certificate, one
 * session); the last will, published on the client's behalf later, must pass the same publish rule now.
 */
export function checkConnect(who: Principal, clientId: string, will: { topic: string } | null | undefined): void {
  if (who.role === 'vehicle' && clientId !== who.cn) {
    throw new BrokerError('BROKER_CLIENT_ID', `vehicle ${printable(who.cn)} connected with client id ${printable(clientId)}`);
  }
  if (will && !authorize(who, 'publish', will.topic)) {
    throw new BrokerError('BROKER_WILL_DENIED', `last will on ${printable(will.topic)} is not a topic ${who.role} ${printable(who.cn)} may publish`);
  }
}

/** True when `a` and `b` are the same certificate identity (so one may take over the other's session). */
export function sameIdentity(a: Principal, b: Principal): boolean {
  return a.role === b.role && a.cn === b.cn;
}

/** What the broker refused, by reason code, and what it admitted. Live counters. */
export interface BrokerStats {
  accepted: { connections: number; publishes: number; subscriptions: number };
  refused: { connections: Record<string, number>; publishes: Record<string, number>; subscriptions: Record<string, number> };
  /** Clients closed while connected: `BROKER_REVOKED_LIVE`, `PKI_EXPIRED`; and forwards withheld. */
  dropped: Record<string, number>;
  /** Publishes held back to keep a client within its rate (`BROKER_RATE_LIMITED`), not refused. */
  limited: Record<string, number>;
}

export function newStats(): BrokerStats {
  return {
    accepted: { connections: 0, publishes: 0, subscriptions: 0 },
    refused: { connections: {}, publishes: {}, subscriptions: {} },
    dropped: {},
    limited: {},
  };
}

export function count(table: Record<string, number>, reason: string): void {
  table[reason] = (table[reason] ?? 0) + 1;
}

/** The stable code of a refusal: an OtaError's code, else a generic one. */
export function reasonOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(code) ? code : 'BROKER_INTERNAL';
}

/**
 * A client-chosen string (topic, client id) made safe for a one-line log: JSON-quoted (no control
 * characters or newlines survive) and cut to 120 characters.
 */
export function printable(s: string): string {
  return JSON.stringify(s.length > 120 ? s.slice(0, 120) + '…' : s);
}
