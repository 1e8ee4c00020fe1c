/**
 * The UDS server of one virtual ECU: the mode (bootloader or application), the session and its S3
 * timer, and the request pipeline of ISO 14229-1:2013 §7.5 — one request at a time, `admit` (gate.ts),
 * decode, the service, then the response rules: `7F <SID> 78` while a request takes longer than P2
 * (ISO 14229-2 P2server / P2*server), suppressPosRspMsgIndicationBit, and the NRCs a functional request never answers.
 */
import type { Clock, TimerHandle } from '../../protocol/clock.js';
import { NRC, UdsNegativeError, negativeResponseFor } from '../../protocol/uds/nrc.js';
import { decodeRequest } from '../../protocol/uds/request.js';
import type { UdsRequest } from '../../protocol/uds/types.js';
import type { UdsRequestHandler, UdsRequestMeta } from '../../protocol/uds/ports.js';
import type { EcuNvm } from '../nvm.js';
import * as boot from './bootloader-services.js';
import {
  BOOT_REASON,
  DEPENDENCY_RESULT,
  FIRST_PENDING_FRACTION,
  PENDING_FRACTION,
  SESSION,
  bootReasonFor,
  type DependencyResult,
  type EcuMode,
  type Session,
} from './constants.js';
import type { CommunicationState, LinkConfig, Outcome, ServerConfig, ServerCore } from './core.js';
import { admit } from './gate.js';
import { Programming } from './programming.js';
import * as svc from './services.js';

/**
 * ISO 14229-1:2013 §7.5: to a functionally addressed request the server sends no negative
 * response with these NRCs (serviceNotSupported, subFunctionNotSupported, requestOutOfRange,
 * subFunctionNotSupportedInActiveSession, serviceNotSupportedInActiveSession).
 */
const SUPPRESSED_FOR_FUNCTIONAL: ReadonlySet<number> = new Set([
  NRC.serviceNotSupported,
  NRC.subFunctionNotSupported,
  NRC.requestOutOfRange,
  NRC.subFunctionNotSupportedInActiveSession,
  NRC.serviceNotSupportedInActiveSession,
]);

/** Who runs and why: DID 0xFD00. */
export interface BootState {
  mode: EcuMode;
  /** `BOOT_REASON` code. */
  reason: number;
}

const NORMAL_COMMUNICATION: CommunicationState = { controlType: 0x00, communicationType: 0x03 };

/** The `7F <SID> 78` sender of the request in work. */
interface Pending {
  /** True once a `78` went out: the final response is then sent even if suppressed. */
  readonly sent: boolean;
  /** Send the first `78` now (if not sent yet); the P2* repeats follow. */
  now(): void;
  stop(): void;
}

/** The state and request pipeline of one ECU; `VirtualEcu` (virtual-ecu.ts) is its public face. */
export class UdsServer implements ServerCore {
  mode: EcuMode = 'bootloader';
  session: Session = SESSION.default;
  bootReason: number = BOOT_REASON.noDescriptor;
  dependencyResult: DependencyResult = DEPENDENCY_RESULT.notChecked;
  readonly communication: CommunicationState = { ...NORMAL_COMMUNICATION };
  readonly programming: Programming;
  private readonly routineResults: boot.RoutineResults = new Map();
  private readonly bootListeners = new Set<(state: BootState) => void>();
  private tail: Promise<void> = Promise.resolve();
  private s3: TimerHandle | null = null;
  /** The response-pending sender of the request in work (one at a time), for `Programming`'s long waits. */
  private pending: Pending | null = null;
  /** Incremented at every reset: a request still in work when the ECU restarted gets no response. */
  private epoch = 0;
  private closed = false;

  constructor(
    readonly nvm: EcuNvm,
    readonly clock: Clock,
    readonly config: ServerConfig,
  ) {
    this.programming = new Programming(nvm.flash, nvm.timedFlash, {
      buffers: config.transferBuffers,
      // A wait the timing model knows will be long gets its 0x78 at once (conformance finding, issue 9 §5).
      longWaitMs: config.p2Ms * FIRST_PENDING_FRACTION,
      onLongWait: () => this.pending?.now(),
    });
  }

  /** A `UdsRequestHandler` for a link with its own settings; all share this server's state and queue. */
  handlerFor(link: LinkConfig): UdsRequestHandler {
    return { handle: (request, respond, meta) => this.enqueue(request, respond, meta, link) };
  }

  /** Subscribes to (re)boots: ECU resets and the application's hand-over to the bootloader. */
  onBoot(listener: (state: BootState) => void): () => void {
    this.bootListeners.add(listener);
    return () => this.bootListeners.delete(listener);
  }

  // ---- state changes (ServerCore) ------------------------------------------------------------------

  /**
   * ISO 14229-1:2013 §9.2.1: any change into a non-default session (also re-entering one) relocks
   * SecurityAccess and ends a programming transfer; back to the default session also restores normal
   * communication and DTC setting. Default → default changes nothing.
   */
  changeSession(session: Session): void {
    const previous = this.session;
    if (session === SESSION.default && previous === SESSION.default) return;
    this.nvm.security.lock();
    if (previous === SESSION.programming) this.programming.reset();
    if (session === SESSION.default) this.restoreDefaults();
    this.session = session;
  }

  /** ECUReset / power-on: forget RAM state, start the application only if its descriptor verifies against flash. */
  reset(): void {
    this.epoch++;
    this.stopS3();
    this.clearVolatile();
    const status = this.nvm.applicationStatus();
    this.mode = status.valid ? 'application' : 'bootloader';
    this.bootReason = status.valid ? BOOT_REASON.applicationStarted : bootReasonFor(status.reason);
    this.emitBoot();
  }

  /** The application hands over to the bootloader, which runs in the programming session. */
  enterBootloader(): void {
    this.epoch++;
    this.stopS3();
    this.clearVolatile();
    this.mode = 'bootloader';
    this.session = SESSION.programming;
    this.bootReason = BOOT_REASON.programmingRequested;
    this.emitBoot();
    this.startS3();
  }

  /** Stops the S3 timer; further requests get no response. */
  close(): void {
    this.closed = true;
    this.stopS3();
  }

  private clearVolatile(): void {
    this.nvm.security.lock();
    this.programming.reset();
    this.routineResults.clear();
    this.dependencyResult = DEPENDENCY_RESULT.notChecked;
    this.session = SESSION.default;
    this.restoreDefaults();
  }

  private restoreDefaults(): void {
    Object.assign(this.communication, NORMAL_COMMUNICATION);
    this.nvm.dtcs.setDtcSetting(true);
  }

  private emitBoot(): void {
    const state: BootState = { mode: this.mode, reason: this.bootReason };
    for (const listener of this.bootListeners) listener({ ...state });
  }

  // ---- S3 ------------------------------------------------------------------------------------------

  /** ISO 14229-2 S3server: a non-default session without requests for s3 ms falls back to default. */
  private startS3(): void {
    this.stopS3();
    if (this.session === SESSION.default || this.closed) return;
    this.s3 = this.clock.setTimeout(() => {
      this.s3 = null;
      this.changeSession(SESSION.default);
    }, this.config.s3Ms);
  }

  private stopS3(): void {
    if (this.s3 !== null) this.clock.clearTimeout(this.s3);
    this.s3 = null;
  }

  // ---- request pipeline ------------------------------------------------------------------------------

  private enqueue(request: Uint8Array, respond: (response: Uint8Array) => void, meta: UdsRequestMeta, link: LinkConfig): Promise<void> {
    const copy = Uint8Array.from(request); // the link may reuse its buffer while we wait our turn
    const epoch = this.epoch; // a request queued before a reset is lost with the reset
    const run = this.tail.then(() => (epoch === this.epoch ? this.process(copy, respond, meta, link) : undefined));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async process(request: Uint8Array, respond: (response: Uint8Array) => void, meta: UdsRequestMeta, link: LinkConfig): Promise<void> {
    if (this.closed || request.length === 0) return; // nothing to answer (ISO 14229-1 §7.5: no SID)
    const sid = request[0] as number;
    const epoch = this.epoch;
    this.stopS3(); // ISO 14229-2 S3server: S3 does not run while a request is in work
    let sendError: unknown;
    const send = (bytes: Uint8Array): void => {
      if (epoch !== this.epoch || this.closed) return;
      try {
        respond(bytes);
      } catch (e) {
        sendError ??= e; // the ECU still finishes what it started (a reset still resets); the link hears of it below
      }
    };
    const pending = this.startPending(sid, send);
    this.pending = pending;
    let outcome: Outcome | undefined;
    let negative: Uint8Array | undefined;
    try {
      outcome = await this.execute(request, link);
    } catch (e) {
      negative = negativeResponseFor(e, sid);
    } finally {
      pending.stop();
      if (this.pending === pending) this.pending = null;
    }
    if (negative !== undefined) {
      const nrc = negative[2] as number;
      if (!(meta.functional && SUPPRESSED_FOR_FUNCTIONAL.has(nrc)) || pending.sent) send(negative);
    } else if (outcome !== undefined) {
      // ISO 14229-1 §7.5: suppressPosRspMsgIndicationBit → no positive response, unless a 0x78 was sent.
      if (outcome.suppress !== true || pending.sent) send(outcome.response);
      if (epoch === this.epoch) outcome.after?.();
    }
    this.startS3(); // ISO 14229-2 S3server: S3 restarts once the request is handled (a no-op in the default session)
    if (sendError !== undefined) throw sendError;
  }

  /**
   * Sends `7F <SID> 78` once the request has been in work for 40 % of P2 (or at once when `now()` is
   * called: a wait known to be long), then every 90 % of P2* until stopped. The margin to P2 is for a
   * busy event loop, whose timers fire late.
   */
  private startPending(sid: number, send: (bytes: Uint8Array) => void): Pending {
    let sent = false;
    let stopped = false;
    let handle: TimerHandle | null = null;
    const fire = (): void => {
      if (handle !== null) this.clock.clearTimeout(handle);
      sent = true;
      send(Uint8Array.of(0x7f, sid, NRC.requestCorrectlyReceivedResponsePending));
      handle = this.clock.setTimeout(fire, this.config.p2StarMs * PENDING_FRACTION);
    };
    handle = this.clock.setTimeout(fire, this.config.p2Ms * FIRST_PENDING_FRACTION);
    return {
      get sent() {
        return sent;
      },
      now: () => {
        if (!sent && !stopped) fire();
      },
      stop: () => {
        stopped = true;
        if (handle !== null) this.clock.clearTimeout(handle);
        handle = null;
      },
    };
  }

  private async execute(request: Uint8Array, link: LinkConfig): Promise<Outcome> {
    admit(request, this.mode, this.session, this.nvm.security.unlockedLevel);
    const req: UdsRequest = decodeRequest(request);
    switch (req.service) {
      case 'DiagnosticSessionControl':
        return svc.diagnosticSessionControl(this, req);
      case 'ECUReset':
        return svc.ecuReset(this, req);
      case 'SecurityAccess':
        return svc.securityAccess(this, req);
      case 'TesterPresent':
        return svc.testerPresent(req);
      case 'CommunicationControl':
        return svc.communicationControl(this, req);
      case 'ControlDTCSetting':
        return svc.controlDtcSetting(this, req);
      case 'ReadDataByIdentifier':
        return svc.readDataByIdentifier(this, req);
      case 'WriteDataByIdentifier':
        return svc.writeDataByIdentifier(this, req);
      case 'ReadDTCInformation':
        return svc.readDtcInformation(this, req);
      case 'ClearDiagnosticInformation':
        return svc.clearDiagnosticInformation(this, req);
      case 'RoutineControl':
        return boot.routineControl(this, req, this.routineResults);
      case 'RequestDownload':
        return boot.requestDownload(this, req, link);
      case 'TransferData':
        return boot.transferData(this, req);
      case 'RequestTransferExit':
        return boot.requestTransferExit(this, req);
      default:
        // admit() lets through only services listed in gate.ts, all handled above.
        throw new UdsNegativeError(NRC.serviceNotSupported, `service ${req.service} is not handled`);
    }
  }
}
