/**
 * The numbers a tester sees on the wire from the virtual ECU's UDS server, in one place: the ECU's own
 * DIDs (boot state, programming status, live data, configuration), the status codes they carry, the
 * timing it announces and the block length it accepts. docs/flash-sequence.md documents each one.
 */
import { APP_STATUS_CODE, type AppInvalidReason } from '../descriptor.js';

/** The two pieces of software of the ECU: the flash bootloader and the application it starts. */
export type EcuMode = 'bootloader' | 'application';

/** ISO 14229-1 §9.2.2 sessions this ECU supports. */
export const SESSION = { default: 0x01, programming: 0x02, extended: 0x03 } as const;
export type Session = (typeof SESSION)[keyof typeof SESSION];

/** Timing the ECU announces in its DiagnosticSessionControl response and keeps (ISO 14229-2 session timing parameters). */
export const DEFAULT_SERVER_TIMING = {
  /** P2server_max: time to the first response. */
  p2Ms: 50,
  /** P2*server_max: time to the next response after a 0x78 response pending. */
  p2StarMs: 5000,
  /** S3server: a non-default session without requests falls back to the default session after this. */
  s3Ms: 5000,
} as const;

/**
 * Our server sends the first `7F <SID> 78` when a request has been in work for this fraction of P2
 * (20 ms of 50): the 30 ms left absorb a busy event loop firing the timer late.
 * A wait the flash timing model knows to be longer gets its `78` at once instead.
 */
export const FIRST_PENDING_FRACTION = 0.4;

/** It repeats the `78` at this fraction of P2* (every 4500 ms), so each arrives in time. */
export const PENDING_FRACTION = 0.9;

/**
 * Default maxNumberOfBlockLength of the `74` response: SID + blockSequenceCounter + 2048 data bytes
 * (two 1 KiB pages). It fits one ISO-TP message on classic CAN (≤ 4095 bytes) and any DoIP link; a link
 * may announce its own (`VirtualEcu.handlerFor({ maxBlockLength })`), 3…0xFFFF.
 */
export const DEFAULT_MAX_BLOCK_LENGTH = 0x0802;

/**
 * RAM block buffers of the bootloader's TransferData: blocks accepted (answered `76`) whose programming
 * may still be running. 2 = one block programming while the next one waits, so the tester can send a
 * block ahead even on a fast link; a further block waits in the transport's receive buffer (its `76` is
 * delayed) until the oldest buffer is free.
 */
export const DEFAULT_TRANSFER_BUFFERS = 2;

/** Most DIDs accepted in one ReadDataByIdentifier request (more → NRC 0x13). */
export const MAX_DIDS_PER_READ = 16;
/** Longest response the server builds (one classic ISO-TP message); longer → NRC 0x14 responseTooLong. */
export const DEFAULT_MAX_RESPONSE_LENGTH = 4095;

/** The ECU's own data identifiers (vehicle-manufacturer-specific ranges of ISO 14229-1 Annex C.1). */
export const ECU_DID = {
  /** Live data (application only): ultrasonic distance sensor, u16 mm. */
  ultrasonicDistance: 0x0100,
  /** Live data (application only): supply voltage, u16 mV. */
  supplyVoltage: 0x0101,
  /** Configuration (application, writable): distance warning threshold, u16 mm, 50…4000. */
  distanceWarningThreshold: 0x0110,
  /** Boot state (both modes): `<mode> <bootReason>`. */
  bootState: 0xfd00,
  /** Programming status (both modes): `<applicationStatus> <lastDependencyCheck>`. */
  programmingStatus: 0xfd01,
  /** Revocation list held by the bootloader (both modes): its cRLNumber, u32 (0 = none held). */
  revocationListNumber: 0xfd02,
  /** Storage slot (not readable) of the CRL routine 0x0203 installed, DER, in the ECU's state. */
  revocationListStore: 0xfd03,
} as const;

/** routineStatusRecord of routine 0x0203 installRevocationList. */
export const CRL_ROUTINE_STATUS = {
  /** The CRL verified, was newer than the held one, and is now persisted and in force. */
  installed: 0x00,
  /** The CRL verified but is not newer than the one held (the same, or older): the held one stays. */
  kept: 0x01,
} as const;

/** First byte of DID 0xFD00: which software answers. */
export const BOOT_MODE_CODE: Readonly<Record<EcuMode, number>> = { bootloader: 0x01, application: 0x02 };

/**
 * Second byte of DID 0xFD00: why the running software runs, decided at the last reset. 0x00: the
 * application verified and was started; 0x01–0x05: the bootloader stayed because the application is
 * invalid (the `APP_STATUS_CODE` of descriptor.ts); 0x10: the application handed over to the bootloader
 * because a tester requested the programming session.
 */
export const BOOT_REASON = {
  applicationStarted: APP_STATUS_CODE.VALID,
  noDescriptor: APP_STATUS_CODE.NO_DESCRIPTOR,
  descriptorRange: APP_STATUS_CODE.RANGE,
  descriptorLength: APP_STATUS_CODE.LENGTH,
  applicationErased: APP_STATUS_CODE.ERASED,
  applicationDigest: APP_STATUS_CODE.DIGEST,
  programmingRequested: 0x10,
} as const;

/** The boot reason byte for an invalid application. */
export function bootReasonFor(reason: AppInvalidReason): number {
  return APP_STATUS_CODE[reason];
}

/**
 * Second byte of DID 0xFD01 and the detail behind a refused routine 0xFF01 (checkProgrammingDependencies):
 * the result of the last check since the last reset. The NRC each refusal answers with is in
 * `DEPENDENCY_NRC` (dependencies.ts).
 */
export const DEPENDENCY_RESULT = {
  accepted: 0x00,
  malformed: 0x10,
  badSignature: 0x11,
  untrustedSigner: 0x12,
  revokedSigner: 0x13,
  wrongHardware: 0x20,
  rollback: 0x21,
  addressMismatch: 0x30,
  lengthMismatch: 0x31,
  digestMismatch: 0x32,
  noTrustAnchor: 0x40,
  nothingWritten: 0x41,
  otherRefusal: 0x50,
  notChecked: 0xff,
} as const;

export type DependencyResult = (typeof DEPENDENCY_RESULT)[keyof typeof DEPENDENCY_RESULT];

/** routineStatusRecord first byte of our routines: 0x00 = the routine completed correctly. */
export const ROUTINE_STATUS_OK = 0x00;
