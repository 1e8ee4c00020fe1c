/**
 * What the service modules of the UDS server share: the server's state as they see it, the link a
 * request came in on, and the outcome a service returns.
 */
import type { Clock } from '../../protocol/clock.js';
import type { TrustStore } from '../../security/pki/index.js';
import type { EcuNvm } from '../nvm.js';
import type { DependencyResult, EcuMode, Session } from './constants.js';
import type { DidContext } from './dids.js';
import type { Programming } from './programming.js';

/** Fixed settings of one server (resolved from `VirtualEcuOptions`). */
export interface ServerConfig {
  readonly p2Ms: number;
  readonly p2StarMs: number;
  readonly s3Ms: number;
  readonly maxResponseLength: number;
  /** RAM block buffers of TransferData (blocks answered but not yet programmed), ≥ 1. */
  readonly transferBuffers: number;
  readonly trust: TrustStore | undefined;
  /** Wall time, for certificate validity. */
  readonly now: () => Date;
}

/** Per-link settings: the link a request arrived on. */
export interface LinkConfig {
  /** maxNumberOfBlockLength announced in the RequestDownload response (SID + BSC + data), 3…0xFFFF. */
  readonly maxBlockLength: number;
}

/** CommunicationControl state (ISO 14229-1 §9.5): normal = 0x00 enableRxAndTx. */
export interface CommunicationState {
  controlType: number;
  communicationType: number;
}

/** The server state services read and change. */
export interface ServerCore extends DidContext {
  readonly nvm: EcuNvm;
  readonly clock: Clock;
  readonly mode: EcuMode;
  readonly session: Session;
  readonly config: ServerConfig;
  readonly programming: Programming;
  readonly communication: CommunicationState;
  dependencyResult: DependencyResult;
  /** DiagnosticSessionControl within the running software, with the session-change side effects. */
  changeSession(session: Session): void;
  /** ECUReset: restart and let the bootloader decide what runs. */
  reset(): void;
  /** The application hands over to the bootloader, which runs in the programming session. */
  enterBootloader(): void;
}

/** A positive outcome: the response bytes, and what to do once it has been handed to the link. */
export interface Outcome {
  response: Uint8Array;
  /** The suppressPosRspMsgIndicationBit of the request (ISO 14229-1 §7.5). */
  suppress?: boolean;
  after?: () => void;
}
