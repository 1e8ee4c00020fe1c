/**
 * The SecurityAccess (UDS 0x27) key rule of ARCHITECTURE.md §2.4, shared by the ECU (which checks keys)
 * and the gateway (which computes them): key = HMAC-SHA256(ecuSecret, seed) truncated to the seed's
 * length (16-byte seeds; at most 32 bytes).
 */
import { createHmac } from 'node:crypto';

export function securityAccessKey(secret: Uint8Array, seed: Uint8Array): Uint8Array {
  const mac = createHmac('sha256', secret).update(seed).digest();
  return Uint8Array.from(mac.subarray(0, Math.min(seed.length, mac.length)));
}
