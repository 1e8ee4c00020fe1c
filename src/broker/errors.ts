import { OtaError } from '../protocol/errors.js';

/**
 * Stable codes of broker refusals. Certificate failures found after the handshake carry the PKI code
 * itself (PKI_REVOKED, PKI_WRONG_ROLE, …); refusals in the TLS handshake are counted as `TLS_<reason>`
 * with OpenSSL's reason (TLS_CERT_REVOKED, TLS_CERT_HAS_EXPIRED, TLS_UNABLE_TO_VERIFY_LEAF_SIGNATURE, …).
 */
export const BROKER_CODES = {
  noCert: 'BROKER_NO_CERT', // the MQTT connection carries no client certificate (not over our TLS listener)
  clientId: 'BROKER_CLIENT_ID', // a vehicle's MQTT client id is not its certificate CN
  clientIdTaken: 'BROKER_CLIENT_ID_TAKEN', // the client id is held by a connected client of another identity
  willDenied: 'BROKER_WILL_DENIED', // the last will topic is one the client may not publish
  trustUnavailable: 'BROKER_TRUST_UNAVAILABLE', // ca.pem / crl.pem cannot be read or verified (fail closed)
  publishDenied: 'BROKER_PUBLISH_DENIED', // authorize() refused a PUBLISH
  subscribeDenied: 'BROKER_SUBSCRIBE_DENIED', // authorize() refused a SUBSCRIBE filter
  forwardDenied: 'BROKER_FORWARD_DENIED', // a message was about to reach a client not allowed to read it
  revokedLive: 'BROKER_REVOKED_LIVE', // a connected client's certificate was revoked: disconnected
  badOption: 'BROKER_BAD_OPTION', // startBroker / mosquitto-config given unusable options
  packetTooLarge: 'BROKER_PACKET_TOO_LARGE', // a packet above maxPacketBytes: disconnected at its fixed header
  retainDenied: 'BROKER_RETAIN_DENIED', // retain flag on a topic the design does not retain, or too large
  inflightLimit: 'BROKER_INFLIGHT_LIMIT', // more publishes held back by the client's rate than maxInflight
  internal: 'BROKER_INTERNAL', // the broker cannot apply a rule it must (fail closed)
} as const;

export type BrokerCode = (typeof BROKER_CODES)[keyof typeof BROKER_CODES];

/** A refusal or misconfiguration of the broker. */
export class BrokerError extends OtaError {
  declare readonly code: BrokerCode;
  constructor(code: BrokerCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}
