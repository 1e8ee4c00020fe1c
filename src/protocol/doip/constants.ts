/**
 * DoIP (ISO 13400-2) constants: ports, protocol versions, payload types and every code table, each an
 * `as const` table keyed by a camelCase name. Table numbers are those of ISO 13400-2:2019; the values are
 * the same in the 2012 edition unless a comment says otherwise.
 */

/** TCP_DATA and UDP_DISCOVERY port (ISO 13400-2:2019 Table 39/41); the product makes it configurable. */
export const DOIP_PORT = 13400;

/**
 * Vehicle announcement at start-up (ISO 13400-2 Table 39, timing parameters): after its IP address is
 * configured the entity waits a random A_DoIP_Announce_Wait (0…500 ms), then sends A_DoIP_Announce_Num
 * vehicle announcements (payload type 0x0004) A_DoIP_Announce_Interval apart, to UDP_DISCOVERY.
 */
export const DOIP_ANNOUNCE_TIMING = {
  /** A_DoIP_Announce_Wait: the first announcement after a random delay up to this (ms). */
  maxWaitMs: 500,
  /** A_DoIP_Announce_Interval (ms). */
  intervalMs: 500,
  /** A_DoIP_Announce_Num. */
  count: 3,
} as const;

/** Generic DoIP header: version, inverse version, payload type u16, payload length u32 (Table 16). */
export const DOIP_HEADER_LENGTH = 8;

/** Protocol version byte of the generic header (Table 16). */
export const DOIP_PROTOCOL_VERSION = {
  /** ISO/DIS 13400-2:2010. */
  iso13400_2_2010: 0x01,
  /** ISO 13400-2:2012 — the version this product speaks (ARCHITECTURE.md §3). */
  iso13400_2_2012: 0x02,
  /** ISO 13400-2:2019. */
  iso13400_2_2019: 0x03,
  /** "Default value for vehicle identification request messages": valid only on payload types 0x0001–0x0003. */
  vehicleIdentificationDefault: 0xff,
} as const;

/** The version our encoder writes when a message does not say otherwise. */
export const DOIP_DEFAULT_PROTOCOL_VERSION = DOIP_PROTOCOL_VERSION.iso13400_2_2012;

/** Versions the decoders accept by default (0xFF is accepted in addition, for identification requests only). */
export const DOIP_SUPPORTED_PROTOCOL_VERSIONS: readonly number[] = [0x01, 0x02, 0x03];

/** Logical addresses and activation type of the virtual vehicle (ARCHITECTURE.md §3, ECU addressing). */
export const DOIP_DEFAULTS = {
  port: DOIP_PORT,
  protocolVersion: DOIP_DEFAULT_PROTOCOL_VERSION,
  activationType: 0x00,
  testerAddress: 0x0e00,
  engineAddress: 0x0010,
  bodyAddress: 0x0011,
} as const;

/**
 * Default limit on one message's payload length (the header's length field, header excluded): a 4 KiB UDS
 * message plus the 4 address bytes of a diagnostic message, so a whole frame is 4 KiB + 12 bytes. It covers
 * every UDS message ISO-TP can carry (4095 bytes). A server should announce this same number as the max data
 * size in its entity status response: whether a tester reads that value with or without the 8 header bytes, it
 * then never sends more than we accept.
 */
export const DOIP_DEFAULT_MAX_PAYLOAD_LENGTH = 4096 + 4;

/** Payload types (Table 17), keyed by the `type` name of the decoded message. */
export const DOIP_PAYLOAD_TYPE = {
  genericNack: 0x0000,
  vehicleIdentificationRequest: 0x0001,
  vehicleIdentificationRequestEid: 0x0002,
  vehicleIdentificationRequestVin: 0x0003,
  vehicleAnnouncement: 0x0004,
  routingActivationRequest: 0x0005,
  routingActivationResponse: 0x0006,
  aliveCheckRequest: 0x0007,
  aliveCheckResponse: 0x0008,
  entityStatusRequest: 0x4001,
  entityStatusResponse: 0x4002,
  powerModeRequest: 0x4003,
  powerModeResponse: 0x4004,
  diagnosticMessage: 0x8001,
  diagnosticAck: 0x8002,
  diagnosticNack: 0x8003,
} as const;

/** The `type` name of a DoIP message, one per payload type. */
export type DoipMessageType = keyof typeof DOIP_PAYLOAD_TYPE;

const typeByCode = new Map<number, DoipMessageType>(
  (Object.entries(DOIP_PAYLOAD_TYPE) as [DoipMessageType, number][]).map(([name, code]) => [code, name]),
);

/** The message type for a payload type code, or undefined when ISO 13400-2 defines none. */
export function doipMessageTypeOf(payloadType: number): DoipMessageType | undefined {
  return typeByCode.get(payloadType);
}

/** Payload types that may carry protocol version 0xFF (Table 16). */
export function isVehicleIdentificationRequest(payloadType: number): boolean {
  return payloadType >= 0x0001 && payloadType <= 0x0003;
}

/** Generic DoIP header NACK codes (Table 19); 0x05–0xFF reserved. Only 0x00 and 0x04 close the socket. */
export const DOIP_GENERIC_NACK_CODE = {
  incorrectPatternFormat: 0x00,
  unknownPayloadType: 0x01,
  messageTooLarge: 0x02,
  outOfMemory: 0x03,
  invalidPayloadLength: 0x04,
} as const;

/** Routing activation types (Table 47); 0x02–0xDF reserved, 0xE1–0xFF VM-specific. */
export const DOIP_ACTIVATION_TYPE = {
  default: 0x00,
  wwhObd: 0x01,
  centralSecurity: 0xe0,
} as const;

/**
 * Routing activation response codes (Table 49); 0x08–0x0F, 0x12–0xDF and 0xFF reserved, 0xE0–0xFE VM-specific.
 * Socket handling per the table: 0x00–0x03, 0x05, 0x06 deny and close the socket; 0x04 denies without closing.
 */
export const DOIP_ROUTING_ACTIVATION_RESPONSE_CODE = {
  unknownSourceAddress: 0x00,
  allSocketsRegistered: 0x01,
  sourceAddressMismatch: 0x02,
  sourceAddressAlreadyActive: 0x03,
  missingAuthentication: 0x04,
  rejectedConfirmation: 0x05,
  unsupportedActivationType: 0x06,
  /** ISO 13400-2:2019 only: the activation type requires a TLS connection. */
  tlsRequired: 0x07,
  successfullyActivated: 0x10,
  confirmationRequired: 0x11,
} as const;

/** Further action codes of the vehicle announcement (Table 6); 0x01–0x0F reserved, 0x11–0xFF VM-specific. */
export const DOIP_FURTHER_ACTION = {
  noFurtherAction: 0x00,
  centralSecurity: 0x10,
} as const;

/** VIN/GID synchronization status (Table 7); every other value reserved. */
export const DOIP_SYNC_STATUS = {
  synchronized: 0x00,
  notSynchronized: 0x10,
} as const;

/** Node type of the entity status response (Table 11); 0x02–0xFF reserved. */
export const DOIP_NODE_TYPE = {
  gateway: 0x00,
  node: 0x01,
} as const;

/** Diagnostic power mode (Table 9); 0x03–0xFF reserved. */
export const DOIP_POWER_MODE = {
  notReady: 0x00,
  ready: 0x01,
  notSupported: 0x02,
} as const;

/** Diagnostic message positive acknowledge codes (Table 24); 0x01–0xFF reserved. */
export const DOIP_DIAGNOSTIC_ACK_CODE = {
  acknowledged: 0x00,
} as const;

/** Diagnostic message negative acknowledge codes (Table 26); 0x00–0x01 and 0x09–0xFF reserved. */
export const DOIP_DIAGNOSTIC_NACK_CODE = {
  invalidSourceAddress: 0x02,
  unknownTargetAddress: 0x03,
  diagnosticMessageTooLarge: 0x04,
  outOfMemory: 0x05,
  targetUnreachable: 0x06,
  unknownNetwork: 0x07,
  transportProtocolError: 0x08,
} as const;

interface CodeTable {
  readonly codes: Readonly<Record<string, number>>;
  /** Inclusive ranges the standard leaves to the vehicle manufacturer; everything else unnamed is reserved. */
  readonly vmSpecific: readonly (readonly [number, number])[];
}

/** Every code table by field kind, for naming values (`doipCodeName`). */
export const DOIP_CODE_TABLES = {
  protocolVersion: { codes: DOIP_PROTOCOL_VERSION, vmSpecific: [] },
  genericNack: { codes: DOIP_GENERIC_NACK_CODE, vmSpecific: [] },
  activationType: { codes: DOIP_ACTIVATION_TYPE, vmSpecific: [[0xe1, 0xff]] },
  routingActivationResponse: { codes: DOIP_ROUTING_ACTIVATION_RESPONSE_CODE, vmSpecific: [[0xe0, 0xfe]] },
  furtherAction: { codes: DOIP_FURTHER_ACTION, vmSpecific: [[0x11, 0xff]] },
  syncStatus: { codes: DOIP_SYNC_STATUS, vmSpecific: [] },
  nodeType: { codes: DOIP_NODE_TYPE, vmSpecific: [] },
  powerMode: { codes: DOIP_POWER_MODE, vmSpecific: [] },
  diagnosticAck: { codes: DOIP_DIAGNOSTIC_ACK_CODE, vmSpecific: [] },
  diagnosticNack: { codes: DOIP_DIAGNOSTIC_NACK_CODE, vmSpecific: [] },
} as const satisfies Record<string, CodeTable>;

/** A field kind that has a code table. */
export type DoipCodeKind = keyof typeof DOIP_CODE_TABLES;

/** The name of `value` in the code table of `kind`: its table key, else `vmSpecific` or `reserved`. */
export function doipCodeName(kind: DoipCodeKind, value: number): string {
  const table: CodeTable = DOIP_CODE_TABLES[kind];
  for (const [name, code] of Object.entries(table.codes)) {
    if (code === value) return name;
  }
  return table.vmSpecific.some(([from, to]) => value >= from && value <= to) ? 'vmSpecific' : 'reserved';
}
