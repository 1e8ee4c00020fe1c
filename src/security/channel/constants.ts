/**
 * Wire constants of the end-to-end secure channel (OTA-SC/1). The byte layout of every message is
 * documented in docs/test-vectors/channel-handshake.md and docs/test-vectors/channel-records.md.
 */

/** The one protocol version this implementation speaks; first byte of every message. */
export const PROTOCOL_VERSION = 0x01;

/** Second byte of every message: what it is. */
export const MessageType = {
  clientHello: 0x01,
  serverHello: 0x02,
  finished: 0x03,
  record: 0x17,
} as const;

/** Suite names as negotiated, with their one-byte wire id. Order here is not preference. */
export const SUITE_IDS = {
  'aes-256-gcm': 0x01,
  '3des-cbc-hmac-sha256': 0x02,
} as const;
export type SuiteName = keyof typeof SUITE_IDS;

/** Default offer, most preferred first. */
export const DEFAULT_SUITES: readonly SuiteName[] = ['aes-256-gcm', '3des-cbc-hmac-sha256'];

export function suiteById(id: number): SuiteName | undefined {
  if (id === SUITE_IDS['aes-256-gcm']) return 'aes-256-gcm';
  if (id === SUITE_IDS['3des-cbc-hmac-sha256']) return '3des-cbc-hmac-sha256';
  return undefined;
}

/** Field sizes (bytes). */
export const SIZES = {
  random: 32,
  /** Uncompressed SEC1 P-256 point: 0x04 ‖ X ‖ Y. */
  keyShare: 65,
  /** ECDSA P-256 signature as r ‖ s (IEEE P1363), 32 bytes each. */
  signature: 64,
  finishedMac: 32,
  sessionId: 8,
  recordHeader: 24,
  gcmTag: 16,
  gcmIv: 12,
  desIv: 8,
  desBlock: 8,
  hmacTag: 32,
} as const;

/** Safety limits: anything larger is refused before it is parsed further. */
export const LIMITS = {
  maxCertificateBytes: 4096,
  maxOfferedSuites: 8,
  /** Largest plaintext one record carries (64 KiB). */
  maxPlaintext: 65536,
  /** Largest sequence number this implementation sends or accepts (2^53 − 1, JS safe integer). */
  maxSequence: Number.MAX_SAFE_INTEGER,
  defaultReplayWindow: 64,
  maxReplayWindow: 4096,
} as const;

/**
 * Blocks one key generation may protect before the sender rekeys (ARCHITECTURE §2: 3DES rekeys before
 * 2^20 blocks, the 64-bit-block birthday margin; AES-GCM after 2^34 AES blocks ≈ 2^24 16 KiB records,
 * RFC 8446 §5.5).
 */
export const REKEY_AFTER_BLOCKS: Record<SuiteName, number> = {
  'aes-256-gcm': 2 ** 34,
  '3des-cbc-hmac-sha256': 2 ** 20,
};

/** HKDF-SHA256 `info` labels (ASCII, no terminator) and signature/session-id context strings. */
export const LABELS = {
  serverFinished: 'ota-sc/1 s finished',
  clientFinished: 'ota-sc/1 c finished',
  c2sTraffic: 'ota-sc/1 c2s traffic',
  s2cTraffic: 'ota-sc/1 s2c traffic',
  gcmKey: 'ota-sc/1 gcm key',
  gcmIv: 'ota-sc/1 gcm iv',
  desKey: 'ota-sc/1 3des key',
  macKey: 'ota-sc/1 hmac key',
  trafficUpdate: 'ota-sc/1 traffic update',
  serverSignature: 'OTA-SC/1 server signature',
  clientSignature: 'OTA-SC/1 client signature',
  sessionId: 'OTA-SC/1 session id',
} as const;

/** Stable refusal codes of the channel (PKI_* codes from verifyCertificate pass through unchanged). */
export const SC_CODES = [
  'SC_BAD_TAG',
  'SC_BAD_PADDING',
  'SC_REPLAY',
  'SC_TOO_OLD',
  'SC_BAD_EPOCH',
  'SC_KEY_EXHAUSTED',
  'SC_SEQ_EXHAUSTED',
  'SC_WRONG_SESSION',
  'SC_WRONG_SUITE',
  'SC_TRUNCATED',
  'SC_MALFORMED',
  'SC_TOO_LARGE',
  'SC_BAD_VERSION',
  'SC_NOT_ESTABLISHED',
  'SC_UNEXPECTED_MESSAGE',
  'SC_NO_COMMON_SUITE',
  'SC_BAD_SIGNATURE',
  'SC_BAD_FINISHED',
  'SC_BAD_KEY_SHARE',
  'SC_KEY_MISMATCH',
  'SC_CLOSED',
] as const;
export type ScCode = (typeof SC_CODES)[number];
