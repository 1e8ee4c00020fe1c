/**
 * Transcript hashes, signatures and Finished MACs of the OTA-SC/1 handshake (channel-handshake.md §4).
 * CH, SH, CF are the exact bytes sent; SH_body = SH without its trailing signature ‖ mac (96 bytes).
 *
 *   helloHash  = SHA-256(CH ‖ SH_body)                 → key schedule salt, session id, server signature
 *   server sig = ECDSA-P256-SHA256("OTA-SC/1 server signature" ‖ 0x00 ‖ helloHash)
 *   server mac = HMAC-SHA256(s_finished_key, SHA-256(CH ‖ SH_body ‖ server sig))
 *   client sig = ECDSA-P256-SHA256("OTA-SC/1 client signature" ‖ 0x00 ‖ SHA-256(CH ‖ SH))
 *   client mac = HMAC-SHA256(c_finished_key, SHA-256(CH ‖ SH ‖ 01 03 ‖ client sig))
 */
import { createECDH, createHash, createHmac, sign, timingSafeEqual, verify, type ECDH, type KeyObject } from 'node:crypto';
import { LABELS, SIZES } from './constants.js';
import { refuse } from './errors.js';

/** SHA-256 over the concatenation of `parts`. */
export function transcriptHash(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function signedContent(label: string, hash: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(label, 'ascii'), Buffer.of(0), hash]);
}

/** ECDSA P-256 / SHA-256 signature, r ‖ s (64 bytes), over `label ‖ 0x00 ‖ hash`. */
export function signTranscript(key: KeyObject, label: 'server' | 'client', hash: Uint8Array): Buffer {
  const content = signedContent(label === 'server' ? LABELS.serverSignature : LABELS.clientSignature, hash);
  return sign('sha256', content, { key, dsaEncoding: 'ieee-p1363' });
}

/** Throws SC_BAD_SIGNATURE unless `signature` is the peer's signature over `label ‖ 0x00 ‖ hash`. */
export function verifyTranscript(key: KeyObject, label: 'server' | 'client', hash: Uint8Array, signature: Uint8Array): void {
  const content = signedContent(label === 'server' ? LABELS.serverSignature : LABELS.clientSignature, hash);
  let ok = false;
  try {
    ok = signature.length === SIZES.signature && verify('sha256', content, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch (e) {
    throw refuse('SC_BAD_SIGNATURE', `${label} transcript signature cannot be checked`, e);
  }
  if (!ok) throw refuse('SC_BAD_SIGNATURE', `${label} transcript signature does not verify`);
}

/** Key-confirmation MAC: HMAC-SHA256(finishedKey, hash). */
export function finishedMac(finishedKey: Uint8Array, hash: Uint8Array): Buffer {
  return createHmac('sha256', finishedKey).update(hash).digest();
}

/** Throws SC_BAD_FINISHED unless `mac` equals the expected MAC (constant time). */
export function checkFinishedMac(finishedKey: Uint8Array, hash: Uint8Array, mac: Uint8Array): void {
  const expected = finishedMac(finishedKey, hash);
  if (mac.length !== expected.length || !timingSafeEqual(expected, mac)) {
    throw refuse('SC_BAD_FINISHED', 'Finished MAC does not verify (peer derived other keys)');
  }
}

/** A fresh ephemeral P-256 key pair; with `rng`, its private scalar comes from it (rejection sampling). */
export function ephemeralKey(rng?: (n: number) => Uint8Array): ECDH {
  const ecdh = createECDH('prime256v1');
  if (!rng) {
    ecdh.generateKeys();
    return ecdh;
  }
  for (let i = 0; i < 64; i++) {
    try {
      ecdh.setPrivateKey(Buffer.from(rng(32)));
      return ecdh;
    } catch {
      // Scalar 0 or ≥ n: draw again (probability about 2^-32 per draw for a uniform rng).
    }
  }
  throw new RangeError('rng produced no valid P-256 scalar in 64 draws');
}

/** ECDH on P-256: the 32-byte X coordinate. Throws SC_BAD_KEY_SHARE for a point not on the curve. */
export function sharedSecret(ecdh: ECDH, peerShare: Uint8Array): Buffer {
  try {
    return ecdh.computeSecret(peerShare);
  } catch (e) {
    throw refuse('SC_BAD_KEY_SHARE', 'peer key share is not a valid P-256 point', e);
  }
}
