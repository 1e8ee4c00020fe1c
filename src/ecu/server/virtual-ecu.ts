/**
 * `createVirtualEcu`: one virtual STM32F103 with its non-volatile memory, bootloader and application,
 * as a UDS server (`UdsRequestHandler`) that links (ISO-TP on CAN, DoIP) bind to a transport.
 */
import { systemClock, type Clock } from '../../protocol/clock.js';
import { OtaError } from '../../protocol/errors.js';
import type { UdsRequestHandler } from '../../protocol/uds/ports.js';
import type { TrustStore } from '../../security/pki/index.js';
import { DEFAULT_FLASH_TIMING, type FlashTiming } from '../flash-timing.js';
import type { EcuFlashModel } from '../models.js';
import { memoryNvm, openNvm, type EcuNvm, type NvmOptions } from '../nvm.js';
import type { EcuIdentity } from '../state.js';
import {
  DEFAULT_MAX_BLOCK_LENGTH,
  DEFAULT_MAX_RESPONSE_LENGTH,
  DEFAULT_SERVER_TIMING,
  DEFAULT_TRANSFER_BUFFERS,
  type DependencyResult,
  type EcuMode,
  type Session,
} from './constants.js';
import { UdsServer, type BootState } from './server.js';

/** How to build a virtual ECU. Every field is optional; see each default. */
export interface VirtualEcuOptions {
  /** State directory: flash and state files persist there (a kill is a power loss). Default: memory only. */
  stateDir?: string;
  /** An already opened NVM (then `stateDir`, `model`, `identity`, `secret`, `timing`, `lockoutMs`, `maxAttempts`, `rng` are its own). */
  nvm?: EcuNvm;
  /** Flash model of a new ECU, default `stm32f103c8`. */
  model?: string | EcuFlashModel;
  /** VIN, serial number, spare part number, hardware id of a new ECU (defaults: `DEFAULT_IDENTITY`, hardware id = model). */
  identity?: Partial<EcuIdentity>;
  /** SecurityAccess secret; default the ECU's own random one (`<stateDir>/security-secret`, src/ecu/secret.ts). */
  secret?: Uint8Array;
  /** Fleet CA the release certificate of a manifest must chain to. Without it routine 0xFF01 accepts nothing (NRC 0x22). */
  trust?: TrustStore;
  /** Time source of S3, P2 pending, SecurityAccess delay, flash timing and live data. Default `systemClock`. */
  clock?: Clock;
  /** Physical flash timing: `true` = datasheet typical (`DEFAULT_FLASH_TIMING`), or a custom one. Default off (instant). */
  timing?: FlashTiming | boolean | null;
  /** maxNumberOfBlockLength of `handler` (3…0xFFFF); default 0x0802. Other links: `handlerFor`. */
  maxBlockLength?: number;
  /**
   * TransferData block buffers (≥ 1): blocks answered `76` whose programming may still run in the
   * background. Default 2 (`DEFAULT_TRANSFER_BUFFERS`).
   */
  transferBuffers?: number;
  /** P2 / P2* announced and kept, and S3 (ms). Defaults 50 / 5000 / 5000. */
  serverTiming?: Partial<{ p2Ms: number; p2StarMs: number; s3Ms: number }>;
  /** Longest response built (ReadDataByIdentifier → NRC 0x14 beyond). Default 4095. */
  maxResponseLength?: number;
  /** SecurityAccess lockout delay (default 10 000 ms) and wrong keys before it (default 3). */
  lockoutMs?: number;
  maxAttempts?: number;
  /** Seed randomness (tests). */
  rng?: (length: number) => Uint8Array;
  /** Re-provision an ECU of `stateDir` that lost state.json or flash.bin (NvmOptions.reprovision), reported to `reprovisionLog`. */
  reprovision?: boolean;
  reprovisionLog?: (line: string) => void;
  /** Wall time for certificate validity; default `new Date()` (not `clock`: a fake clock usually starts at 0). */
  now?: () => Date;
}

/** What a link or a test sees of the ECU's volatile state. */
export interface EcuStatus {
  mode: EcuMode;
  session: Session;
  /** BOOT_REASON code of the last (re)boot (DID 0xFD00 byte 2). */
  bootReason: number;
  /** Unlocked SecurityAccess level (0x01 or 0x11), or null. */
  securityLevel: number | null;
  /** CommunicationControl controlType (0x00 = normal) and communicationType. */
  communication: { controlType: number; communicationType: number };
  dtcSettingOn: boolean;
  downloadActive: boolean;
  /** Result of the last routine 0xFF01 since the reset (DID 0xFD01 byte 2). */
  dependencyResult: DependencyResult;
}

/** One virtual ECU. */
export interface VirtualEcu {
  /** The UDS server for a link announcing `maxBlockLength` (default 0x0802). */
  readonly handler: UdsRequestHandler;
  /** The same server for another link with its own maxNumberOfBlockLength (e.g. 0x0FFF on classic CAN, more on DoIP). */
  handlerFor(link: { maxBlockLength: number }): UdsRequestHandler;
  /** Which software runs. */
  readonly mode: EcuMode;
  /** The active diagnostic session. */
  readonly session: Session;
  /** Mode and the reason it runs (DID 0xFD00). */
  bootState(): BootState;
  status(): EcuStatus;
  /** The non-volatile memory (flash, state, DTCs, security counters). */
  readonly nvm: EcuNvm;
  /** Power cycle / hard reset: what ECUReset does, without a response. A request in work gets no answer. */
  reset(): void;
  /** Called after every (re)boot: ECU resets and the application's hand-over to the bootloader. Returns unsubscribe. */
  onBoot(listener: (state: BootState) => void): () => void;
  /** Stops timers and answers nothing more; closes the NVM files if this ECU opened them. */
  close(): void;
}

function checkBlockLength(value: number): number {
  if (!Number.isInteger(value) || value < 3 || value > 0xffff) {
    throw new OtaError('ECU_CONFIG', `maxBlockLength must be an integer 3…0xFFFF, got ${String(value)}`);
  }
  return value;
}

function checkTransferBuffers(value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 16) {
    throw new OtaError('ECU_CONFIG', `transferBuffers must be an integer 1…16, got ${String(value)}`);
  }
  return value;
}

function resolveTiming(timing: VirtualEcuOptions['timing']): FlashTiming | null {
  if (timing === true) return DEFAULT_FLASH_TIMING;
  if (timing === false || timing === null || timing === undefined) return null;
  return timing;
}

function openMemory(options: VirtualEcuOptions, clock: Clock): { nvm: EcuNvm; owned: boolean } {
  if (options.nvm !== undefined) return { nvm: options.nvm, owned: false };
  const nvmOptions: NvmOptions = { clock, timing: resolveTiming(options.timing) };
  if (options.model !== undefined) nvmOptions.model = options.model;
  if (options.identity !== undefined) nvmOptions.identity = options.identity;
  if (options.secret !== undefined) nvmOptions.secret = options.secret;
  if (options.lockoutMs !== undefined) nvmOptions.lockoutMs = options.lockoutMs;
  if (options.maxAttempts !== undefined) nvmOptions.maxAttempts = options.maxAttempts;
  if (options.rng !== undefined) nvmOptions.rng = options.rng;
  if (options.reprovision !== undefined) nvmOptions.reprovision = options.reprovision;
  if (options.reprovisionLog !== undefined) nvmOptions.log = options.reprovisionLog;
  const nvm = options.stateDir === undefined ? memoryNvm(nvmOptions) : openNvm(options.stateDir, nvmOptions);
  return { nvm, owned: true };
}

/**
 * Builds a virtual ECU and powers it on: the bootloader starts the application if its descriptor
 * verifies against flash, otherwise stays in the bootloader (DID 0xFD00 says why).
 */
export function createVirtualEcu(options: VirtualEcuOptions = {}): VirtualEcu {
  const clock = options.clock ?? systemClock;
  const maxBlockLength = checkBlockLength(options.maxBlockLength ?? DEFAULT_MAX_BLOCK_LENGTH);
  const { nvm, owned } = openMemory(options, clock);
  const server = new UdsServer(nvm, clock, {
    p2Ms: options.serverTiming?.p2Ms ?? DEFAULT_SERVER_TIMING.p2Ms,
    p2StarMs: options.serverTiming?.p2StarMs ?? DEFAULT_SERVER_TIMING.p2StarMs,
    s3Ms: options.serverTiming?.s3Ms ?? DEFAULT_SERVER_TIMING.s3Ms,
    maxResponseLength: options.maxResponseLength ?? DEFAULT_MAX_RESPONSE_LENGTH,
    transferBuffers: checkTransferBuffers(options.transferBuffers ?? DEFAULT_TRANSFER_BUFFERS),
    trust: options.trust,
    now: options.now ?? (() => new Date()),
  });
  server.reset();
  let closed = false;
  return {
    handler: server.handlerFor({ maxBlockLength }),
    handlerFor: (link) => server.handlerFor({ maxBlockLength: checkBlockLength(link.maxBlockLength) }),
    get mode() {
      return server.mode;
    },
    get session() {
      return server.session;
    },
    bootState: () => ({ mode: server.mode, reason: server.bootReason }),
    status: () => ({
      mode: server.mode,
      session: server.session,
      bootReason: server.bootReason,
      securityLevel: nvm.security.unlockedLevel,
      communication: { ...server.communication },
      dtcSettingOn: nvm.dtcs.dtcSettingOn,
      downloadActive: server.programming.downloadActive,
      dependencyResult: server.dependencyResult,
    }),
    nvm,
    reset: () => server.reset(),
    onBoot: (listener) => server.onBoot(listener),
    close: () => {
      if (closed) return;
      closed = true;
      server.close();
      if (owned) nvm.close();
    },
  };
}
