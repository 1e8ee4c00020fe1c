/**
 * Key schedule of OTA-SC/1 (docs/test-vectors/channel-keys.md). All derivations are full HKDF-SHA256
 * (RFC 5869 Extract-then-Expand) through node:crypto `hkdfSync`:
 *
 *   HS(label, L)  = HKDF(IKM = ECDH shared secret (32-byte X), salt = helloHash, info = label, L)
 *   TK(S, label, L) = HKDF(IKM = traffic secret S, salt = "" (RFC 5869: 32 zero bytes), info = label, L)
 *
 *   s_finished_key = HS("ota-sc/1 s finished", 32)     c_finished_key = HS("ota-sc/1 c finished", 32)
 *   c2s_secret_0   = HS("ota-sc/1 c2s traffic", 32)    s2c_secret_0   = HS("ota-sc/1 s2c traffic", 32)
 *   secret_{g+1}   = TK(secret_g, "ota-sc/1 traffic update", 32)
 *   aes-256-gcm:          key = TK(secret_g, "ota-sc/1 gcm key", 32), iv = TK(secret_g, "ota-sc/1 gcm iv", 12)
 *   3des-cbc-hmac-sha256: enc = TK(secret_g, "ota-sc/1 3des key", 24), mac = TK(secret_g, "ota-sc/1 hmac key", 32)
 *   session_id = SHA-256("OTA-SC/1 session id" ‖ helloHash)[0..8]
 */
import { createHash, hkdfSync } from 'node:crypto';
import { LABELS, SIZES, type SuiteName } from './constants.js';

export interface GcmKeys {
  readonly suite: 'aes-256-gcm';
  /** 32-byte AES-256 key. */
  readonly key: Buffer;
  /** 12-byte per-direction IV; the record nonce is `iv XOR (0^32 ‖ seq64)`. */
  readonly iv: Buffer;
}

export interface DesKeys {
  readonly suite: '3des-cbc-hmac-sha256';
  /** 24-byte 3DES-EDE3 key (K1 ‖ K2 ‖ K3; DES parity bits are ignored). */
  readonly encKey: Buffer;
  /** 32-byte HMAC-SHA256 key. */
  readonly macKey: Buffer;
}

/** The keys that protect one direction under one key generation. */
export type RecordKeys = GcmKeys | DesKeys;

/** Secrets derived once per handshake. */
export interface HandshakeSecrets {
  readonly serverFinishedKey: Buffer;
  readonly clientFinishedKey: Buffer;
  /** Generation-0 traffic secret, initiator (client) → responder (server). */
  readonly c2sSecret: Buffer;
  /** Generation-0 traffic secret, responder (server) → initiator (client). */
  readonly s2cSecret: Buffer;
}

const EMPTY = Buffer.alloc(0);

function hkdf(ikm: Uint8Array, salt: Uint8Array, label: string, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from(label, 'ascii'), length));
}

/** Finished keys and generation-0 traffic secrets from the ECDH shared secret and the hello transcript hash. */
export function deriveHandshakeSecrets(sharedSecret: Uint8Array, helloHash: Uint8Array): HandshakeSecrets {
  return {
    serverFinishedKey: hkdf(sharedSecret, helloHash, LABELS.serverFinished, 32),
    clientFinishedKey: hkdf(sharedSecret, helloHash, LABELS.clientFinished, 32),
    c2sSecret: hkdf(sharedSecret, helloHash, LABELS.c2sTraffic, 32),
    s2cSecret: hkdf(sharedSecret, helloHash, LABELS.s2cTraffic, 32),
  };
}

/** The record keys of one direction and generation, from that generation's traffic secret. */
export function deriveRecordKeys(suite: SuiteName, trafficSecret: Uint8Array): RecordKeys {
  if (suite === 'aes-256-gcm') {
    return {
      suite,
      key: hkdf(trafficSecret, EMPTY, LABELS.gcmKey, 32),
      iv: hkdf(trafficSecret, EMPTY, LABELS.gcmIv, SIZES.gcmIv),
    };
  }
  return {
    suite,
    encKey: hkdf(trafficSecret, EMPTY, LABELS.desKey, 24),
    macKey: hkdf(trafficSecret, EMPTY, LABELS.macKey, 32),
  };
}

/** The traffic secret of the next key generation (rekey), TLS 1.3 KeyUpdate style. */
export function nextTrafficSecret(trafficSecret: Uint8Array): Buffer {
  return hkdf(trafficSecret, EMPTY, LABELS.trafficUpdate, 32);
}

/** The 8-byte session id every record of the session carries. */
export function sessionIdFrom(helloHash: Uint8Array): Buffer {
  return createHash('sha256')
    .update(Buffer.from(LABELS.sessionId, 'ascii'))
    .update(helloHash)
    .digest()
    .subarray(0, SIZES.sessionId);
}

/** Everything a session derives, in one pure call (used by the test vectors). */
export interface SessionKeys extends HandshakeSecrets {
  readonly sessionId: Buffer;
  readonly c2s: RecordKeys;
  readonly s2c: RecordKeys;
}

/** Pure key schedule: shared secret + hello transcript hash + suite → finished keys, session id, generation-0 record keys. */
export function deriveKeys(suite: SuiteName, sharedSecret: Uint8Array, helloHash: Uint8Array): SessionKeys {
  const hs = deriveHandshakeSecrets(sharedSecret, helloHash);
  return {
    ...hs,
    sessionId: sessionIdFrom(helloHash),
    c2s: deriveRecordKeys(suite, hs.c2sSecret),
    s2c: deriveRecordKeys(suite, hs.s2cSecret),
  };
}
