/**
 * DoIP (ISO 13400-2): message codec, generic header handler, TCP stream reader and trace describer. Pure code;
 * the virtual ECU's DoIP server and the gateway's DoIP client put sockets around it.
 */
export * from './constants.js';
export type * from './messages.js';
export { DOIP_HEADER_ERROR, DoipError, doipNackFor } from './errors.js';
export type { DoipDecodeErrorCode, DoipHeaderErrorCode } from './errors.js';
export { checkDoipHeader, isValidPayloadLength, readDoipHeader, writeDoipHeader } from './header.js';
export type { DoipDecodeOptions, DoipHeader } from './header.js';
export { decodeDoipMessage, decodeDoipPayload, encodeDoipMessage } from './codec.js';
export { DoipStreamReader } from './stream.js';
export type { DoipStreamEvent } from './stream.js';
export { describeDoip } from './describe.js';
