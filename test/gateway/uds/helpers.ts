/**
 * Test doubles for the UDS tester: a scripted link (the test answers each request by hand), a link to
 * an in-memory `UdsRequestHandler`, and a small flash-bootloader handler that follows ARCHITECTURE.md §3
 * with switches for the faults a tester must handle. The real virtual ECU is tested in test/integration.
 */
import { createHash } from 'node:crypto';
import { createCa, issueCertificate } from '../../../src/security/pki/index.js';
import { decodeSignedManifest, signManifest, type Manifest } from '../../../src/security/firmware/index.js';
import {
  NRC,
  UdsNegativeError,
  decodeMemoryRange,
  decodeRequest,
  encodeNegativeResponse,
  encodeResponse,
  negativeResponseFor,
  type UdsPositiveResponse,
  type UdsRequest,
} from '../../../src/protocol/uds/index.js';
import type { UdsLink, UdsRequestHandler } from '../../../src/protocol/uds/ports.js';
import { securityAccessKey as computeKey } from '../../../src/security/access-key.js';

/** A link whose responses the test sends by hand; records every request. */
export class ScriptedLink implements UdsLink {
  readonly sent: Uint8Array[] = [];
  closed = false;
  failNextSend: Error | undefined;
  private readonly listeners = new Set<(r: Uint8Array) => void>();
  private readonly waiters: Array<(r: Uint8Array) => void> = [];

  send(request: Uint8Array): Promise<void> {
    if (this.failNextSend !== undefined) {
      const e = this.failNextSend;
      this.failNextSend = undefined;
      return Promise.reject(e);
    }
    this.sent.push(Uint8Array.from(request));
    this.waiters.shift()?.(request);
    return Promise.resolve();
  }

  onResponse(listener: (response: Uint8Array) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** Delivers a response (hex string or bytes) to the client. */
  respond(response: string | Uint8Array): void {
    const bytes = typeof response === 'string' ? Uint8Array.from(Buffer.from(response.replace(/\s+/g, ''), 'hex')) : response;
    for (const l of [...this.listeners]) l(bytes);
  }

  /** Resolves with the next request sent (or the last one, if it was already sent and not yet awaited). */
  nextRequest(): Promise<Uint8Array> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  get listenerCount(): number {
    return this.listeners.size;
  }
}

/** Hex of bytes, lower case without spaces. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** A link to an in-process handler: each request is handled at once, responses arrive on a microtask. */
export function handlerLink(handler: UdsRequestHandler, trace?: Uint8Array[]): UdsLink & { close(): Promise<void> } {
  const listeners = new Set<(r: Uint8Array) => void>();
  return {
    send(request) {
      trace?.push(Uint8Array.from(request));
      void handler.handle(Uint8Array.from(request), (res) => queueMicrotask(() => listeners.forEach((l) => l(res))), { functional: false });
      return Promise.resolve();
    },
    onResponse(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close: () => Promise.resolve(),
  };
}

/** Faults the fake bootloader can inject. */
export interface FakeEcuFaults {
  /** Answer these SIDs with this NRC. */
  refuse?: Map<number, number>;
  /** Answer RoutineControl of these routine ids with this NRC. */
  refuseRoutine?: Map<number, number>;
  /** `7F 31 78` sent this many times before the erase answer. Default 2. */
  erasePending?: number;
  /** Report a wrong SHA-256 from check memory. */
  wrongDigest?: boolean;
  /** Check memory answers `<status> <SHA-256>` (as the virtual ECU does) instead of the bare digest. */
  digestStatus?: number;
  /** Version DID 0xF189 reports instead of the manifest's. */
  versionOverride?: string;
  /** Requests after `11 01` that get no answer (the ECU is rebooting). */
  silentAfterReset?: number;
}

/**
 * A minimal bootloader following ARCHITECTURE.md §3: sessions, SecurityAccess 0x11 (key rule of §2.4),
 * erase, download with BSC check, exit, check memory (`31 01 02 02` → SHA-256), check dependencies (any
 * manifest accepted), hard reset, DID 0xF189. Not the product ECU: a double for the tester's unit tests.
 */
export class FakeBootloader implements UdsRequestHandler {
  readonly secret = Uint8Array.from(Buffer.alloc(32, 7));
  version = '0.0.0';
  session = 1;
  unlocked = false;
  resets = 0;
  private seed: Uint8Array | undefined;
  private download: { address: number; size: number; next: number; bsc: number } | undefined;
  private written: { address: number; data: Uint8Array } | undefined;
  private silent = 0;
  private pendingVersion: string | undefined;

  constructor(
    private readonly maxBlock: number,
    readonly faults: FakeEcuFaults = {},
  ) {}

  async handle(request: Uint8Array, respond: (r: Uint8Array) => void): Promise<void> {
    const sid = request[0] ?? 0;
    if (this.silent > 0) {
      this.silent--;
      return;
    }
    try {
      const nrc = this.faults.refuse?.get(sid);
      if (nrc !== undefined) throw new UdsNegativeError(nrc);
      const req = decodeRequest(request);
      if (req.service === 'RoutineControl' && req.routineIdentifier === 0xff00) {
        for (let i = 0; i < (this.faults.erasePending ?? 2); i++) {
          respond(encodeNegativeResponse(0x31, NRC.requestCorrectlyReceivedResponsePending));
          await new Promise((r) => setImmediate(r));
        }
      }
      const res = this.answer(req);
      if (res !== undefined && !('suppressPositiveResponse' in req && req.suppressPositiveResponse)) respond(encodeResponse(res));
    } catch (e) {
      respond(negativeResponseFor(e, sid));
    }
  }

  private answer(req: UdsRequest): UdsPositiveResponse | undefined {
    const kind = 'positive';
    switch (req.service) {
      case 'DiagnosticSessionControl':
        this.session = req.sessionType;
        this.unlocked = false;
        return { kind, service: req.service, sessionType: req.sessionType, p2ServerMaxMs: 50, p2StarServerMaxMs: 5000 };
      case 'ControlDTCSetting':
        return { kind, service: req.service, settingType: req.settingType };
      case 'CommunicationControl':
        return { kind, service: req.service, controlType: req.controlType };
      case 'TesterPresent':
        return { kind, service: req.service };
      case 'SecurityAccess':
        return this.securityAccess(req.securityAccessType, req.data);
      case 'RoutineControl':
        return { kind, service: req.service, routineControlType: req.routineControlType, routineIdentifier: req.routineIdentifier, statusRecord: this.routine(req.routineIdentifier, req.optionRecord) };
      case 'RequestDownload':
        this.requireUnlocked();
        this.download = { address: req.memoryAddress, size: req.memorySize, next: 0, bsc: 1 };
        this.written = { address: req.memoryAddress, data: new Uint8Array(req.memorySize) };
        return { kind, service: req.service, maxNumberOfBlockLength: this.maxBlock, maxNumberOfBlockLengthBytes: 2 };
      case 'TransferData': {
        const d = this.download;
        if (d === undefined || this.written === undefined) throw new UdsNegativeError(NRC.requestSequenceError);
        // ISO 14229-1 §14.4: wrong block sequence counter → NRC 0x73.
        if (req.blockSequenceCounter !== d.bsc) throw new UdsNegativeError(NRC.wrongBlockSequenceCounter);
        if (req.data.length > this.maxBlock - 2 || d.next + req.data.length > d.size) throw new UdsNegativeError(NRC.transferDataSuspended);
        this.written.data.set(req.data, d.next);
        d.next += req.data.length;
        d.bsc = (d.bsc + 1) & 0xff;
        return { kind, service: req.service, blockSequenceCounter: req.blockSequenceCounter, data: new Uint8Array(0) };
      }
      case 'RequestTransferExit':
        if (this.download === undefined || this.download.next !== this.download.size) throw new UdsNegativeError(NRC.requestSequenceError);
        this.download = undefined;
        return { kind, service: req.service, parameterRecord: new Uint8Array(0) };
      case 'ECUReset':
        this.resets++;
        this.session = 1;
        this.unlocked = false;
        this.silent = this.faults.silentAfterReset ?? 0;
        if (this.pendingVersion !== undefined) this.version = this.pendingVersion;
        return { kind, service: req.service, resetType: req.resetType };
      case 'ReadDataByIdentifier':
        if (req.dids[0] !== 0xf189) throw new UdsNegativeError(NRC.requestOutOfRange);
        return { kind, service: req.service, records: [{ did: 0xf189, data: Uint8Array.from(Buffer.from(this.faults.versionOverride ?? this.version, 'latin1')) }] };
      default:
        throw new UdsNegativeError(NRC.serviceNotSupported);
    }
  }

  private securityAccess(type: number, data: Uint8Array): UdsPositiveResponse {
    if (this.session !== 2) throw new UdsNegativeError(NRC.serviceNotSupportedInActiveSession);
    if (type === 0x11) {
      this.seed = Uint8Array.from(Buffer.alloc(16, 0x5a));
      return { kind: 'positive', service: 'SecurityAccess', securityAccessType: type, securitySeed: this.unlocked ? new Uint8Array(16) : this.seed };
    }
    if (this.seed === undefined) throw new UdsNegativeError(NRC.requestSequenceError);
    if (!Buffer.from(computeKey(this.secret, this.seed)).equals(data)) throw new UdsNegativeError(NRC.invalidKey);
    this.unlocked = true;
    return { kind: 'positive', service: 'SecurityAccess', securityAccessType: type, securitySeed: new Uint8Array(0) };
  }

  private routine(id: number, record: Uint8Array): Uint8Array {
    this.requireUnlocked();
    const nrc = this.faults.refuseRoutine?.get(id);
    if (nrc !== undefined) throw new UdsNegativeError(nrc);
    if (id === 0xff00) {
      decodeMemoryRange(record);
      return Uint8Array.of(0x00);
    }
    if (id === 0x0202) {
      const digest = createHash('sha256').update(this.written?.data ?? new Uint8Array(0)).digest();
      if (this.faults.wrongDigest === true) digest[0] = (digest[0] as number) ^ 1;
      const status = this.faults.digestStatus;
      return status === undefined ? Uint8Array.from(digest) : Uint8Array.from([status, ...digest]);
    }
    if (id === 0xff01) {
      if (this.written === undefined) throw new UdsNegativeError(NRC.requestSequenceError);
      this.pendingVersion = decodeSignedManifest(record).manifest.version;
      return Uint8Array.of(0x00);
    }
    throw new UdsNegativeError(NRC.requestOutOfRange);
  }

  private requireUnlocked(): void {
    if (!this.unlocked) throw new UdsNegativeError(NRC.securityAccessDenied);
  }
}

/** A fresh CA and release certificate, and a signed manifest for `image` (made at test time). */
export async function signedManifestFor(
  image: { address: number; data: Uint8Array },
  fields: Partial<Manifest> = {},
): Promise<{ signed: Uint8Array; manifest: Manifest; caPem: string }> {
  const ca = await createCa({ name: 'Gateway UDS Test CA' });
  const release = await issueCertificate(ca, { role: 'release', name: 'release-test' });
  const manifest: Manifest = {
    hardwareId: 'stm32f103c8',
    version: '1.2.3',
    counter: 1,
    length: image.data.length,
    sha256: createHash('sha256').update(image.data).digest('hex'),
    loadAddress: image.address,
    format: 'ihex',
    ...fields,
  };
  return { signed: signManifest(manifest, release), manifest, caPem: ca.certPem };
}

/** Deterministic bytes (xorshift32). */
export function pseudoRandomBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
