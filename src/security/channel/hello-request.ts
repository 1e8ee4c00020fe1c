/**
 * HelloRequest (`01 00`): a two-byte, unauthenticated request from the responder (the manager) that the
 * initiator (the gateway) run a fresh handshake — sent when a record arrives for which the responder
 * holds no session (after a manager restart, say). It carries no secret and changes no state on its own;
 * the gateway answers at most once per rate-limit interval with a new ClientHello, so a forged one costs
 * one handshake. Not a handshake message of the channel itself: check it before `SecureChannel.handle`.
 */
import { PROTOCOL_VERSION } from './constants.js';

export const HELLO_REQUEST_TYPE = 0x00;

export function encodeHelloRequest(): Uint8Array {
  return Uint8Array.of(PROTOCOL_VERSION, HELLO_REQUEST_TYPE);
}

export function isHelloRequest(bytes: Uint8Array): boolean {
  return bytes.length === 2 && bytes[0] === PROTOCOL_VERSION && bytes[1] === HELLO_REQUEST_TYPE;
}
