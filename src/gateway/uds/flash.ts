/**
 * The UDS flash sequence of ARCHITECTURE.md §3, step by step, as any tester runs it against the ECU
 * bootloader. Every step is one named function; a refusal becomes a `FlashError` carrying the phase, the
 * NRC (as `wireCode`) and the client error as `cause`.
 *
 *   preparing  10 03 → 85 02, 28 03 01 (optional: NRC 0x11/0x12/0x7E/0x7F tolerated) → 10 02
 *   unlocking  27 11 → seed, 27 12 <HMAC-SHA256(secret, seed) truncated>; with a CRL: 31 01 02 03 <CRL DER>
 *   erasing    31 01 FF 00 44 <address:4> <size:4>  (0x78 pending handled by the client)
 *   programming 34 00 44 <address:4> <size:4> → 74 <LFI> <maxNumberOfBlockLength>;
 *              36 <BSC> <block> … (blocks of maxNumberOfBlockLength − 2 bytes, BSC 0x01.., 0xFF → 0x00) → 37
 *   checking   31 01 02 02 → SHA-256 of what was written must equal ours; 31 01 FF 01 <signed manifest>
 *   rebooting  11 01, then wait (and reconnect, if the link went down with the ECU) until the ECU answers
 *   verifying-version  22 F1 89 must name the manifest's version (the ECU restarts in the default
 *              session, where the DID is readable, so no `10 01` is sent)
 *
 * The tester adds no idle time: each block goes out as soon as the previous positive response arrives;
 * overlapping transfer with programming is the ECU's business.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { OtaError, TimeoutError, isOtaError } from '../../protocol/errors.js';
import {
  COMMUNICATION_CONTROL_TYPE,
  COMMUNICATION_TYPE,
  DID,
  DTC_SETTING_TYPE,
  NRC,
  RESET_TYPE,
  ROUTINE_CONTROL_TYPE,
  ROUTINE_ID,
  SESSION_TYPE,
  UdsNegativeError,
  encodeMemoryRange,
} from '../../protocol/uds/index.js';
import { decodeSignedManifest } from '../../security/firmware/index.js';
import type { UdsClient } from './client.js';

/** Phases of a flash, in order; progress and errors name them. */
export const FLASH_PHASES = ['preparing', 'unlocking', 'erasing', 'programming', 'checking', 'rebooting', 'verifying-version'] as const;
export type FlashPhase = (typeof FLASH_PHASES)[number];

/** The ALFID of the flash sequence: 4-byte memorySize, 4-byte memoryAddress. */
export const FLASH_ALFID = 0x44;
/** SecurityAccess level for programming (requestSeed 0x11, sendKey 0x12). */
export const PROGRAMMING_LEVEL = 0x11;

/** NRCs that mean "this ECU does not do the optional step" (ISO 14229-1 §7.5). */
const OPTIONAL_STEP_NRCS: ReadonlySet<number> = new Set([
  NRC.serviceNotSupported,
  NRC.subFunctionNotSupported,
  NRC.subFunctionNotSupportedInActiveSession,
  NRC.serviceNotSupportedInActiveSession,
]);

/** Stable codes of `FlashError`. */
export const FLASH_ERROR = {
  /** The ECU refused a step: `wireCode` is the NRC, `requestSid` the refused service. */
  NRC: 'FLASH_NRC',
  /** No response within P2/P2* (or the ECU did not come back after the reset). */
  TIMEOUT: 'FLASH_TIMEOUT',
  /** The check-memory routine reported another SHA-256 than the image's. */
  DIGEST_MISMATCH: 'FLASH_DIGEST_MISMATCH',
  /** DID 0xF189 after the reset names another version than the manifest. */
  VERSION_MISMATCH: 'FLASH_VERSION_MISMATCH',
  /** The image does not match the signed manifest (address, length or SHA-256): nothing was sent. */
  IMAGE_MISMATCH: 'FLASH_IMAGE_MISMATCH',
  /** A positive response the sequence cannot use (wrong echo, block length too small, bad status record). */
  PROTOCOL: 'FLASH_PROTOCOL',
  /** The link failed (or another error of the client). */
  LINK: 'FLASH_LINK',
} as const;
export type FlashErrorCode = (typeof FLASH_ERROR)[keyof typeof FLASH_ERROR];

/** A failed flash: which phase, and (for refusals) the NRC as `wireCode` and the refused service. */
export class FlashError extends OtaError {
  readonly phase: FlashPhase;
  readonly requestSid: number | undefined;

  constructor(code: FlashErrorCode, phase: FlashPhase, message: string, options: { cause?: unknown; wireCode?: number; requestSid?: number } = {}) {
    super(code, `${phase}: ${message}`, options);
    this.phase = phase;
    this.requestSid = options.requestSid;
  }

  /** The NRC of a refusal, or undefined. */
  get nrc(): number | undefined {
    return this.wireCode;
  }
}

export interface FlashOptions {
  /** The contiguous application bytes and where they go (e.g. `toContiguous(readImage(...).map)`). */
  image: { address: number; data: Uint8Array };
  /** The signed manifest exactly as `ota firmware sign` wrote it (RoutineControl 0xFF01 option record). */
  signedManifest: Uint8Array;
  /** The ECU secret for SecurityAccess level 0x11. */
  secret: Uint8Array;
  /**
   * The fleet CA's CRL (DER) the gateway holds: handed to the bootloader (routine 0x0203) right after
   * SecurityAccess, before anything is erased and before routine 0xFF01 judges the manifest.
   */
  crl?: Uint8Array;
  /** Called at each phase start and after each block: `done` of `total` (bytes while programming). */
  onProgress?: (phase: FlashPhase, done: number, total: number) => void;
  /**
   * A new client when the link went down with the ECU's reset (e.g. its DoIP server closed the socket);
   * without it the flash keeps using `client`.
   */
  reconnect?: () => Promise<UdsClient>;
  /** How long to wait for the ECU to answer after `11 01`. Default 10 000 ms. */
  rebootTimeoutMs?: number;
  /** Pause between attempts to reach the rebooting ECU. Default 50 ms. */
  rebootRetryMs?: number;
}

export interface FlashResult {
  /** DID 0xF189 after the reset (equal to the manifest's version). */
  version: string;
  /** The client in use at the end (a new one after a reconnect). */
  client: UdsClient;
  /** maxNumberOfBlockLength the ECU granted, and the TransferData blocks sent. */
  maxNumberOfBlockLength: number;
  blocks: number;
  /** Milliseconds spent per phase (on the client's clock). */
  phaseMs: Record<FlashPhase, number>;
}

/** Runs the whole §3 flash sequence on `client`; resolves when the new application reports its version. */
export async function flashEcu(client: UdsClient, options: FlashOptions): Promise<FlashResult> {
  const manifest = checkImage(options);
  const run = new FlashRun(client, options);
  await run.phase('preparing', () => prepare(client));
  await run.phase('unlocking', async () => {
    await client.unlock(PROGRAMMING_LEVEL, options.secret);
    if (options.crl !== undefined) await installRevocationList(client, options.crl);
  });
  await run.phase('erasing', () => erase(client, options.image));
  const transfer = await run.phase('programming', () => program(client, options.image, (done, total) => run.progress('programming', done, total)));
  await run.phase('checking', () => check(client, options.image.data, options.signedManifest));
  await run.phase('rebooting', () => client.reset(RESET_TYPE.hardReset));
  const version = await run.phase('verifying-version', () => run.readVersionAfterReset());
  if (version !== manifest.version) {
    throw new FlashError(FLASH_ERROR.VERSION_MISMATCH, 'verifying-version', `the ECU reports version '${version}', the manifest says '${manifest.version}'`);
  }
  return { version, client: run.client, ...transfer, phaseMs: run.phaseMs };
}

/** The tester refuses to send an image its manifest does not describe (the ECU would refuse it at 0xFF01). */
function checkImage(options: FlashOptions): { version: string } {
  const phase: FlashPhase = 'preparing';
  let manifest;
  try {
    manifest = decodeSignedManifest(options.signedManifest).manifest;
  } catch (e) {
    throw new FlashError(FLASH_ERROR.IMAGE_MISMATCH, phase, 'the signed manifest cannot be decoded', { cause: e });
  }
  const { address, data } = options.image;
  const sha256 = createHash('sha256').update(data).digest('hex');
  if (manifest.loadAddress !== address || manifest.length !== data.length || manifest.sha256 !== sha256) {
    throw new FlashError(FLASH_ERROR.IMAGE_MISMATCH, phase, 'the image differs from the manifest (load address, length or SHA-256)');
  }
  return manifest;
}

/** Step 1–2: extended session, optional DTC-setting off and communication off, programming session. */
async function prepare(client: UdsClient): Promise<void> {
  await client.session(SESSION_TYPE.extendedDiagnosticSession);
  await optional(client.request({ service: 'ControlDTCSetting', settingType: DTC_SETTING_TYPE.off, optionRecord: new Uint8Array(0), suppressPositiveResponse: false }));
  await optional(
    client.request({
      service: 'CommunicationControl',
      controlType: COMMUNICATION_CONTROL_TYPE.disableRxAndTx,
      communicationType: COMMUNICATION_TYPE.normalCommunicationMessages,
      suppressPositiveResponse: false,
    }),
  );
  await client.session(SESSION_TYPE.programmingSession);
}

/** An optional step: an ECU that does not support it (NRC 0x11/0x12/0x7E/0x7F) is fine. */
async function optional(step: Promise<unknown>): Promise<void> {
  try {
    await step;
  } catch (e) {
    if (e instanceof UdsNegativeError && OPTIONAL_STEP_NRCS.has(e.nrc)) return;
    throw e;
  }
}

function memoryRecord(image: { address: number; data: Uint8Array }): Uint8Array {
  return encodeMemoryRange({ memoryAddress: image.address, memorySize: image.data.length, addressLength: 4, sizeLength: 4 });
}

/**
 * Step 3a (docs/flash-sequence.md): `31 01 02 03 <CRL DER>`. Status 0x00 installed, 0x01 kept (the ECU
 * holds this one or a newer one): both fine. NRC 0x31 from a bootloader without the routine (ISO 14229-1
 * §13.2.4: routine not supported) is tolerated — its own CRL, if any, judges the manifest.
 */
async function installRevocationList(client: UdsClient, crl: Uint8Array): Promise<void> {
  try {
    await client.routine(ROUTINE_CONTROL_TYPE.startRoutine, ROUTINE_ID.installRevocationList, crl);
  } catch (e) {
    if (e instanceof UdsNegativeError && e.nrc === NRC.requestOutOfRange) return;
    throw e;
  }
}

/** Step 4: `31 01 FF 00 44 <address> <size>`. */
async function erase(client: UdsClient, image: { address: number; data: Uint8Array }): Promise<void> {
  await client.routine(ROUTINE_CONTROL_TYPE.startRoutine, ROUTINE_ID.eraseMemory, memoryRecord(image));
}

/** Steps 5–7: RequestDownload, TransferData blocks back to back, RequestTransferExit. */
async function program(
  client: UdsClient,
  image: { address: number; data: Uint8Array },
  progress: (done: number, total: number) => void,
): Promise<{ maxNumberOfBlockLength: number; blocks: number }> {
  const { data } = image;
  const download = await client.requestPositive(
    { service: 'RequestDownload', compressionMethod: 0, encryptingMethod: 0, memoryAddress: image.address, memorySize: data.length, addressLength: 4, sizeLength: 4 },
    'RequestDownload',
  );
  const maxNumberOfBlockLength = download.maxNumberOfBlockLength;
  // ISO 14229-1 §14.2: maxNumberOfBlockLength counts the SID and the BSC, so a block carries 2 bytes less.
  const blockBytes = maxNumberOfBlockLength - 2;
  if (blockBytes < 1) {
    throw new FlashError(FLASH_ERROR.PROTOCOL, 'programming', `maxNumberOfBlockLength ${maxNumberOfBlockLength} leaves no room for data`);
  }
  let bsc = 0x01;
  let blocks = 0;
  for (let offset = 0; offset < data.length; offset += blockBytes) {
    const block = data.subarray(offset, offset + blockBytes);
    const res = await client.requestPositive({ service: 'TransferData', blockSequenceCounter: bsc, data: block }, 'TransferData');
    if (res.blockSequenceCounter !== bsc) {
      throw new FlashError(FLASH_ERROR.PROTOCOL, 'programming', `TransferData answered BSC 0x${res.blockSequenceCounter.toString(16)} for 0x${bsc.toString(16)}`);
    }
    blocks++;
    progress(offset + block.length, data.length);
    bsc = (bsc + 1) & 0xff; // ISO 14229-1 §14.4.2: 0xFF wraps to 0x00
  }
  await client.requestPositive({ service: 'RequestTransferExit', parameterRecord: new Uint8Array(0) }, 'RequestTransferExit');
  return { maxNumberOfBlockLength, blocks };
}

/** Step 8: check memory (our SHA-256 must come back), then check programming dependencies with the manifest. */
async function check(client: UdsClient, data: Uint8Array, signedManifest: Uint8Array): Promise<void> {
  const status = await client.routine(ROUTINE_CONTROL_TYPE.startRoutine, ROUTINE_ID.checkMemory);
  const reported = digestOf(status);
  const ours = createHash('sha256').update(data).digest();
  if (reported === undefined) {
    throw new FlashError(FLASH_ERROR.PROTOCOL, 'checking', `check-memory status record of ${status.length} bytes carries no SHA-256`);
  }
  if (!timingSafeEqual(reported, ours)) {
    throw new FlashError(FLASH_ERROR.DIGEST_MISMATCH, 'checking', `the ECU holds SHA-256 ${Buffer.from(reported).toString('hex')}, the image has ${ours.toString('hex')}`);
  }
  await client.routine(ROUTINE_CONTROL_TYPE.startRoutine, ROUTINE_ID.checkProgrammingDependencies, signedManifest);
}

/**
 * The SHA-256 in a check-memory status record: `<status 0x00> <SHA-256:32>` (routineStatusRecord of the
 * virtual ECU, docs/flash-sequence.md) or the bare 32 bytes; anything else (a failed status) → undefined.
 */
function digestOf(status: Uint8Array): Uint8Array | undefined {
  if (status.length === 32) return status;
  if (status.length === 33 && status[0] === 0x00) return status.subarray(1);
  return undefined;
}

/** Phase bookkeeping, error mapping, and the wait for the ECU after its reset. */
class FlashRun {
  client: UdsClient;
  readonly phaseMs = Object.fromEntries(FLASH_PHASES.map((p) => [p, 0])) as Record<FlashPhase, number>;
  private readonly options: FlashOptions;

  constructor(client: UdsClient, options: FlashOptions) {
    this.client = client;
    this.options = options;
  }

  progress(phase: FlashPhase, done: number, total: number): void {
    this.options.onProgress?.(phase, done, total);
  }

  /** Runs one phase: reports it, times it, and turns any failure into a `FlashError` of that phase. */
  async phase<T>(phase: FlashPhase, step: () => Promise<T>): Promise<T> {
    const total = phase === 'programming' ? this.options.image.data.length : 1;
    this.progress(phase, 0, total);
    const start = this.client.clock.now();
    try {
      const result = await step();
      if (phase !== 'programming') this.progress(phase, 1, 1);
      return result;
    } catch (e) {
      throw toFlashError(e, phase);
    } finally {
      this.phaseMs[phase] += this.client.clock.now() - start;
    }
  }

  /** After `11 01`: read DID 0xF189 until the restarted ECU answers, reconnecting when the link went down. */
  async readVersionAfterReset(): Promise<string> {
    const clock = this.client.clock;
    const deadline = clock.now() + (this.options.rebootTimeoutMs ?? 10_000);
    const retryMs = this.options.rebootRetryMs ?? 50;
    for (;;) {
      try {
        const data = await this.client.readDid(DID.vehicleManufacturerECUSoftwareVersionNumber);
        return Buffer.from(data).toString('latin1').replace(/\0+$/, '');
      } catch (e) {
        if (!isRebootTransient(e) || clock.now() >= deadline) throw e;
        if (isLinkFailure(e) && this.options.reconnect !== undefined) {
          try {
            const old = this.client;
            this.client = await this.options.reconnect();
            if (old !== this.client) await old.close().catch(() => undefined);
          } catch (reconnectError) {
            if (clock.now() >= deadline) throw reconnectError;
          }
        }
        await new Promise<void>((resolve) => clock.setTimeout(resolve, retryMs));
      }
    }
  }
}

/** While the ECU restarts: no answer, a closed link, or "busy/conditions not correct" are worth a retry. */
function isRebootTransient(e: unknown): boolean {
  if (e instanceof UdsNegativeError) return e.nrc === NRC.busyRepeatRequest || e.nrc === NRC.conditionsNotCorrect;
  return e instanceof TimeoutError || isLinkFailure(e);
}

/** Codes of the client that mean "the answer was unusable", not "the link is gone". */
const PROTOCOL_CODES: ReadonlySet<string> = new Set(['UDS_UNEXPECTED_RESPONSE', 'UDS_EMPTY', 'UDS_UNKNOWN_SERVICE', 'UDS_LENGTH', 'UDS_SUBFUNCTION', 'UDS_RANGE', 'UDS_TRAILING', 'UDS_DID_LENGTH_UNKNOWN']);

/** A failure of the link (socket closed, CAN error, client closed) rather than of the ECU's answer. */
function isLinkFailure(e: unknown): boolean {
  return !(e instanceof UdsNegativeError) && !(e instanceof TimeoutError) && !(isOtaError(e) && PROTOCOL_CODES.has(e.code));
}

function toFlashError(e: unknown, phase: FlashPhase): FlashError {
  if (e instanceof FlashError) return e;
  if (e instanceof UdsNegativeError) {
    return new FlashError(FLASH_ERROR.NRC, phase, e.message, { cause: e, wireCode: e.nrc, requestSid: e.requestSid });
  }
  if (e instanceof TimeoutError) return new FlashError(FLASH_ERROR.TIMEOUT, phase, e.message, { cause: e });
  const message = e instanceof Error ? e.message : String(e);
  return new FlashError(isLinkFailure(e) ? FLASH_ERROR.LINK : FLASH_ERROR.PROTOCOL, phase, message, { cause: e });
}
