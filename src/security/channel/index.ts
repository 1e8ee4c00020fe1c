/** End-to-end secure channel between manager and vehicle gateway (OTA-SC/1, ARCHITECTURE §2.2). */
export { createChannel, SecureChannel, type ChannelOptions, type ChannelState, type ChannelStats, type HandleResult } from './channel.js';
export { DEFAULT_SUITES, LABELS, LIMITS, MessageType, PROTOCOL_VERSION, REKEY_AFTER_BLOCKS, SC_CODES, SIZES, SUITE_IDS, type ScCode, type SuiteName } from './constants.js';
export { ChannelError } from './errors.js';
export { decodeHandshake, encodeHandshake, type ClientHello, type Finished, type HandshakeMessage, type ServerHello } from './handshake-codec.js';
export {
  deriveHandshakeSecrets,
  deriveKeys,
  deriveRecordKeys,
  nextTrafficSecret,
  sessionIdFrom,
  type DesKeys,
  type GcmKeys,
  type HandshakeSecrets,
  type RecordKeys,
  type SessionKeys,
} from './keys.js';
export { blocksFor, decodeRecordHeader, gcmNonce, maxBodyLength, openRecord, openRecordBody, sealRecord, type RecordFields, type RecordHeader } from './record.js';
export { ReplayWindow } from './window.js';
export { encodeHelloRequest, isHelloRequest, HELLO_REQUEST_TYPE } from './hello-request.js';
