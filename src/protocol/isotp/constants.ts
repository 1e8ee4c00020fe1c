/**
 * ISO 15765-2:2016 constants: N_PCI types, flow status values, limits, defaults, and the stable
 * error codes of the ISO-TP layer.
 */

/** N_PCI type, high nibble of the first byte (ISO 15765-2:2016 §9.6.1). */
export const PCI_TYPE = {
  SF: 0x0,
  FF: 0x1,
  CF: 0x2,
  FC: 0x3,
} as const;

/** Flow status of a flow-control frame (ISO 15765-2:2016 §9.6.5.1). */
export const FLOW_STATUS = {
  CTS: 0x0, // ContinueToSend
  WAIT: 0x1,
  OVFLW: 0x2, // Overflow
} as const;

export type FlowStatus = keyof typeof FLOW_STATUS;

/** Long names of the flow status values, as the standard writes them. */
export const FLOW_STATUS_NAME: Record<FlowStatus, string> = {
  CTS: 'ContinueToSend',
  WAIT: 'Wait',
  OVFLW: 'Overflow',
};

/** Largest FF_DL the 12-bit field carries; above it the FF uses the escape (FF_DL = 0 + 32 bits). */
export const FF_DL_12BIT_MAX = 0xfff;
/** Largest message ISO-TP can announce (32-bit FF_DL). */
export const FF_DL_MAX = 0xffffffff;
/** STmin of 0x7F (127 ms), which the sender uses for a reserved STmin value (ISO 15765-2:2016 §9.6.5.4). */
export const STMIN_RESERVED_FALLBACK_MS = 127;

/** Default pad byte (ISO 15765-2:2016 §10.4.2.2 recommends 0xCC for CAN FD padding). */
export const DEFAULT_PAD_BYTE = 0xcc;
/** Default N_As, N_Ar, N_Bs, N_Cr in ms (ISO 15765-2:2016 §9.8.2, timeout values). */
export const DEFAULT_TIMEOUT_MS = 1000;
/** Default N_WFTmax: how many FC WAIT in a row the sender accepts. */
export const DEFAULT_MAX_WAIT_FRAMES = 10;
/** Default largest message the receiver accepts before answering FC OVFLW. */
export const DEFAULT_MAX_MESSAGE_LENGTH = 65_535;

/** Stable error codes of the ISO-TP layer (tests assert on these). */
export const ISOTP_ERROR = {
  /** CAN frame data length not allowed for the frame type (or not a CAN FD length). */
  FRAME_LENGTH: 'ISOTP_FRAME_LENGTH',
  /** Reserved N_PCI type 4..F. */
  PCI_TYPE: 'ISOTP_PCI_TYPE',
  /** SF_DL zero, too large for the frame, or escape used on the wrong frame size. */
  SF_DL: 'ISOTP_SF_DL',
  /** FF_DL below FF_DLmin, or the 32-bit escape used for a length ≤ 4095. */
  FF_DL: 'ISOTP_FF_DL',
  /** Reserved flow status (N_INVALID_FS). */
  FC_STATUS: 'ISOTP_FC_STATUS',
  /** A value an encoder or an option cannot take (SN, BS, STmin, TX_DL, pad byte, empty payload). */
  VALUE_RANGE: 'ISOTP_VALUE_RANGE',
  /** Payload longer than ISO-TP (or this frame type) can carry. */
  TOO_LARGE: 'ISOTP_TOO_LARGE',
  TIMEOUT_N_AS: 'ISOTP_TIMEOUT_N_AS',
  TIMEOUT_N_AR: 'ISOTP_TIMEOUT_N_AR',
  TIMEOUT_N_BS: 'ISOTP_TIMEOUT_N_BS',
  TIMEOUT_N_CR: 'ISOTP_TIMEOUT_N_CR',
  /** `receive({ timeoutMs })` saw no complete message in time. */
  TIMEOUT_RECEIVE: 'ISOTP_TIMEOUT_RECEIVE',
  /** CF with an unexpected sequence number (N_WRONG_SN). */
  WRONG_SN: 'ISOTP_WRONG_SN',
  /** FC OVFLW received, or FF_DL above our buffer (N_BUFFER_OVFLW). */
  OVERFLOW: 'ISOTP_OVERFLOW',
  /** More FC WAIT in a row than N_WFTmax (N_WFT_OVRN). */
  WFT_OVERRUN: 'ISOTP_WFT_OVERRUN',
  /** A PDU that does not fit the current state (N_UNEXP_PDU). */
  UNEXPECTED_PDU: 'ISOTP_UNEXPECTED_PDU',
  /** Segmented transfer requested or received on the functional address. */
  FUNCTIONAL_MULTI_FRAME: 'ISOTP_FUNCTIONAL_MULTI_FRAME',
  /** The CAN interface refused or failed to send a frame. */
  CAN_ERROR: 'ISOTP_CAN_ERROR',
  /** The transport was closed. */
  CLOSED: 'ISOTP_CLOSED',
} as const;

export type IsoTpErrorCode = (typeof ISOTP_ERROR)[keyof typeof ISOTP_ERROR];
