/**
 * The DoIP message model: one interface per payload type (ISO 13400-2:2019 Tables 2–11, 18, 21–28, 46–49),
 * joined in the `DoipMessage` union discriminated by `type`.
 *
 * Conventions: addresses are u16 numbers, codes are u8 numbers (name them with `doipCodeName`); a VIN is a
 * 17-character string, one character per byte (latin1, so an unset VIN of 0x00/0xFF bytes survives a round trip);
 * EID and GID are 6-byte arrays. `protocolVersion` is the header's version: the encoder writes 0x02 when it is
 * absent, the decoder always sets it. Optional trailing fields are present exactly when they are on the wire.
 * ISO-reserved 4-byte fields are `reserved`, present only when not zero (the standard says to send zero).
 * Byte fields of decoded messages are views into the decoded input, not copies.
 */
import type { DoipMessageType } from './constants.js';

interface Base<T extends DoipMessageType> {
  readonly type: T;
  /** Generic header protocol version (0x01, 0x02, 0x03; 0xFF on identification requests). */
  readonly protocolVersion?: number;
}

/** 0x0000 generic DoIP header negative acknowledge (Table 18). */
export interface GenericNackMessage extends Base<'genericNack'> {
  readonly nackCode: number;
}

/** 0x0001 vehicle identification request (Table 2): no payload. */
export type VehicleIdentificationRequestMessage = Base<'vehicleIdentificationRequest'>;

/** 0x0002 vehicle identification request with EID (Table 3). */
export interface VehicleIdentificationRequestEidMessage extends Base<'vehicleIdentificationRequestEid'> {
  readonly eid: Uint8Array;
}

/** 0x0003 vehicle identification request with VIN (Table 4). */
export interface VehicleIdentificationRequestVinMessage extends Base<'vehicleIdentificationRequestVin'> {
  readonly vin: string;
}

/** 0x0004 vehicle announcement / vehicle identification response (Table 5). */
export interface VehicleAnnouncementMessage extends Base<'vehicleAnnouncement'> {
  readonly vin: string;
  readonly logicalAddress: number;
  readonly eid: Uint8Array;
  readonly gid: Uint8Array;
  /** Table 6. */
  readonly furtherAction: number;
  /** Table 7; optional on the wire. */
  readonly syncStatus?: number;
}

/** 0x0005 routing activation request (Table 46). */
export interface RoutingActivationRequestMessage extends Base<'routingActivationRequest'> {
  readonly sourceAddress: number;
  /** Table 47. One byte; two bytes under protocol version 0x01 (ISO/DIS 13400-2:2010). */
  readonly activationType: number;
  readonly reserved?: number;
  /** "Reserved for VM-specific use", 4 bytes big-endian; optional on the wire. */
  readonly oemSpecific?: number;
}

/** 0x0006 routing activation response (Table 48). */
export interface RoutingActivationResponseMessage extends Base<'routingActivationResponse'> {
  /** Logical address of the external test equipment. */
  readonly testerAddress: number;
  /** Logical address of the DoIP entity. */
  readonly entityAddress: number;
  /** Table 49. */
  readonly responseCode: number;
  readonly reserved?: number;
  readonly oemSpecific?: number;
}

/** 0x0007 alive check request (Table 27): no payload. */
export type AliveCheckRequestMessage = Base<'aliveCheckRequest'>;

/** 0x0008 alive check response (Table 28). */
export interface AliveCheckResponseMessage extends Base<'aliveCheckResponse'> {
  readonly sourceAddress: number;
}

/** 0x4001 DoIP entity status request (Table 10): no payload. */
export type EntityStatusRequestMessage = Base<'entityStatusRequest'>;

/** 0x4002 DoIP entity status response (Table 11). */
export interface EntityStatusResponseMessage extends Base<'entityStatusResponse'> {
  readonly nodeType: number;
  /** Maximum concurrent TCP_DATA sockets. */
  readonly maxOpenSockets: number;
  /** Currently open TCP_DATA sockets. */
  readonly openSockets: number;
  /** Max data size (u32); optional on the wire. */
  readonly maxDataSize?: number;
}

/** 0x4003 diagnostic power mode information request (Table 8): no payload. */
export type PowerModeRequestMessage = Base<'powerModeRequest'>;

/** 0x4004 diagnostic power mode information response (Table 9). */
export interface PowerModeResponseMessage extends Base<'powerModeResponse'> {
  readonly powerMode: number;
}

/** 0x8001 diagnostic message (Table 21): `userData` is the UDS message, at least one byte. */
export interface DiagnosticMessage extends Base<'diagnosticMessage'> {
  readonly sourceAddress: number;
  readonly targetAddress: number;
  readonly userData: Uint8Array;
}

/** 0x8002 diagnostic message positive acknowledge (Table 23). */
export interface DiagnosticAckMessage extends Base<'diagnosticAck'> {
  readonly sourceAddress: number;
  readonly targetAddress: number;
  /** Table 24. */
  readonly ackCode: number;
  /** Previous diagnostic message data, optional; an empty array encodes as absent. */
  readonly previousData?: Uint8Array;
}

/** 0x8003 diagnostic message negative acknowledge (Table 25). */
export interface DiagnosticNackMessage extends Base<'diagnosticNack'> {
  readonly sourceAddress: number;
  readonly targetAddress: number;
  /** Table 26. */
  readonly nackCode: number;
  readonly previousData?: Uint8Array;
}

/** Any DoIP message, discriminated by `type`. */
export type DoipMessage =
  | GenericNackMessage
  | VehicleIdentificationRequestMessage
  | VehicleIdentificationRequestEidMessage
  | VehicleIdentificationRequestVinMessage
  | VehicleAnnouncementMessage
  | RoutingActivationRequestMessage
  | RoutingActivationResponseMessage
  | AliveCheckRequestMessage
  | AliveCheckResponseMessage
  | EntityStatusRequestMessage
  | EntityStatusResponseMessage
  | PowerModeRequestMessage
  | PowerModeResponseMessage
  | DiagnosticMessage
  | DiagnosticAckMessage
  | DiagnosticNackMessage;

/** The message interface for one `type` name. */
export type DoipMessageOf<T extends DoipMessageType> = Extract<DoipMessage, { type: T }>;
