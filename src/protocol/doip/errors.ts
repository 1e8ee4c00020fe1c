/**
 * DoIP errors. A refusal by the generic header handler (ISO 13400-2 [DoIP-041]–[DoIP-045]) is a `DoipError`
 * carrying the generic NACK code to answer with (`wireCode`) and whether the socket must then be closed;
 * other malformed input is a `DecodeError` with a `DOIP_` code and no wire code.
 */
import { ProtocolError } from '../errors.js';
import { DOIP_GENERIC_NACK_CODE } from './constants.js';
import type { GenericNackMessage } from './messages.js';

/** Codes of the generic header handler, each with its NACK code (Table 19) and socket handling. */
export const DOIP_HEADER_ERROR = {
  /** Inverse protocol version is not the one's complement of the version ([DoIP-041]). */
  DOIP_HEADER_PATTERN: { nackCode: DOIP_GENERIC_NACK_CODE.incorrectPatternFormat, closeConnection: true },
  /** Protocol version not supported, or 0xFF on anything but an identification request ([DoIP-041]). */
  DOIP_HEADER_VERSION: { nackCode: DOIP_GENERIC_NACK_CODE.incorrectPatternFormat, closeConnection: true },
  /** Payload type not defined by ISO 13400-2 ([DoIP-042]): discard the message, keep the socket. */
  DOIP_UNKNOWN_PAYLOAD_TYPE: { nackCode: DOIP_GENERIC_NACK_CODE.unknownPayloadType, closeConnection: false },
  /** Payload length above the entity's maximum ([DoIP-043]): discard the message, keep the socket. */
  DOIP_MESSAGE_TOO_LARGE: { nackCode: DOIP_GENERIC_NACK_CODE.messageTooLarge, closeConnection: false },
  /** Payload does not fit the memory available now ([DoIP-044]): discard the message, keep the socket. */
  DOIP_OUT_OF_MEMORY: { nackCode: DOIP_GENERIC_NACK_CODE.outOfMemory, closeConnection: false },
  /** Payload length impossible for the payload type ([DoIP-045]): NACK and close the socket. */
  DOIP_INVALID_PAYLOAD_LENGTH: { nackCode: DOIP_GENERIC_NACK_CODE.invalidPayloadLength, closeConnection: true },
} as const;

/** Code of a generic-header-handler refusal. */
export type DoipHeaderErrorCode = keyof typeof DOIP_HEADER_ERROR;

/**
 * Codes of `DecodeError`s thrown by the DoIP codec: `DOIP_TRUNCATED` (fewer bytes than the header announces, or
 * a stream ended mid-frame), `DOIP_TRAILING_BYTES` (more bytes than one message), `DOIP_FIELD_RANGE` (the encoder
 * was given a value the wire cannot carry).
 */
export type DoipDecodeErrorCode = 'DOIP_TRUNCATED' | 'DOIP_TRAILING_BYTES' | 'DOIP_FIELD_RANGE';

/** A refusal by the generic header handler: answer with a generic NACK of `wireCode`, then close if told to. */
export class DoipError extends ProtocolError {
  declare readonly code: DoipHeaderErrorCode;
  declare readonly wireCode: number;
  /** True when ISO 13400-2 requires the TCP socket to be closed after the NACK (NACK 0x00 and 0x04). */
  readonly closeConnection: boolean;
  /** The refused header's payload type and length, for logs. */
  readonly payloadType: number;
  readonly payloadLength: number;

  constructor(code: DoipHeaderErrorCode, message: string, header: { payloadType: number; payloadLength: number }) {
    const rule = DOIP_HEADER_ERROR[code];
    super(code, message, { wireCode: rule.nackCode });
    this.closeConnection = rule.closeConnection;
    this.payloadType = header.payloadType;
    this.payloadLength = header.payloadLength;
  }
}

/**
 * What a DoIP server answers to an error from our decoders: the generic NACK message to send and whether to close
 * the socket afterwards; undefined when the error is not a generic-header-handler refusal.
 */
export function doipNackFor(error: unknown): { reply: GenericNackMessage; closeConnection: boolean } | undefined {
  if (!(error instanceof DoipError)) return undefined;
  return { reply: { type: 'genericNack', nackCode: error.wireCode }, closeConnection: error.closeConnection };
}
