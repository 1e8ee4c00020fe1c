/**
 * The UDS tester (ISO 14229-1 client, timing per ISO 14229-2 §7): one `UdsClient` per ECU over any
 * `UdsLink` (ISO-TP on CAN, DoIP on TCP, an in-memory pair).
 *
 * Behaviour, in one place:
 * - One request at a time: requests queue and go out in call order (a UDS server handles one request at
 *   a time; the tester must not interleave them).
 * - A response belongs to the pending request when its SID is the request SID + 0x40, or it is
 *   `7F <request SID> <NRC>`. Anything else (a late answer to a request that timed out) is ignored and
 *   counted in `ignoredResponses`.
 * - P2client = P2server_max + margin from the moment the request is on the link; each `7F SID 78`
 *   (requestCorrectlyReceivedResponsePending) restarts the wait with P2*client = P2*server_max + margin,
 *   as often as the server sends it. P2/P2*server_max start at 50 ms / 5000 ms and are taken from every
 *   positive DiagnosticSessionControl response; an ECUReset resets them. No response in time →
 *   `TimeoutError` `UDS_TIMEOUT`.
 * - A negative response rejects with `UdsNegativeError` (`code` UDS_NRC_<NAME>, `wireCode` the NRC),
 *   unless the request asks for it back (`acceptNegative`).
 * - Suppress-positive-response (sub-function bit 7): the server answers only with a negative response
 *   (or, after 0x78, a final response), so the client waits `suppressWaitMs` (default P2client) for one and
 *   then resolves `undefined`. Pass `suppressWaitMs: 0` to resolve as soon as the request is sent.
 * - Keep-alive: while a non-default session is active the client sends `3E 80` after `keepAliveIntervalMs`
 *   (2 s, under the server's S3 = 5 s) without any other request, through the same queue; `close()` stops it.
 */
import { systemClock, type Clock, type TimerHandle } from '../../protocol/clock.js';
import { DecodeError, OtaError, TimeoutError, isOtaError } from '../../protocol/errors.js';
import {
  ALL_DTC_GROUPS,
  NRC,
  POSITIVE_RESPONSE_OFFSET,
  SERVICES_WITH_SUB_FUNCTION,
  SESSION_TYPE,
  SUPPRESS_POSITIVE_RESPONSE,
  UdsNegativeError,
  decodeResponse,
  encodeRequest,
  serviceOfSid,
  type DecodeResponseOptions,
  type DiagnosticSessionControlResponse,
  type ECUResetResponse,
  type ReadDtcListResponse,
  type ServiceName,
  type UdsPositiveResponse,
  type UdsRequest,
  type UdsResponse,
} from '../../protocol/uds/index.js';
import type { UdsLink } from '../../protocol/uds/ports.js';
import { securityAccessKey } from '../../security/access-key.js';

/** Client defaults: P2server_max / P2*server_max before any session response (ISO 14229-2 Table 4 values). */
export const UDS_CLIENT_DEFAULTS = {
  p2Ms: 50,
  p2StarMs: 5000,
  /** Added to P2/P2* for link latency (transport of request and response, scheduling). */
  marginMs: 100,
  /** TesterPresent period; ISO 14229-2 S3server is 5000 ms. */
  keepAliveIntervalMs: 2000,
} as const;

export interface UdsClientOptions {
  /** Default `systemClock`. */
  clock?: Clock;
  /** P2server_max in ms until a session response says otherwise. Default 50. */
  p2Ms?: number;
  /** P2*server_max in ms until a session response says otherwise. Default 5000. */
  p2StarMs?: number;
  /** Client-side margin added to P2 and P2* for link latency. Default 100 ms. */
  marginMs?: number;
  /** Send TesterPresent while a non-default session is active. Default true. */
  keepAlive?: boolean;
  /** Idle time before a keep-alive `3E 80`. Default 2000 ms. */
  keepAliveIntervalMs?: number;
  /** Data lengths of DIDs for decoding multi-DID ReadDataByIdentifier responses. */
  didLengths?: ReadonlyMap<number, number>;
}

export interface UdsRequestOptions {
  /** Resolve with a negative response instead of rejecting with `UdsNegativeError`. */
  acceptNegative?: boolean;
  /** Wait for the first response (replaces P2client for this request). */
  timeoutMs?: number;
  /** Wait after each 0x78 (replaces P2*client for this request). */
  pendingTimeoutMs?: number;
  /** Suppressed positive response: how long to wait for a negative one. Default P2client. */
  suppressWaitMs?: number;
  /** Decoding options for this response (default: the client's `didLengths`). */
  decode?: DecodeResponseOptions;
}

/** A positive response of one service. */
export type PositiveOf<S extends ServiceName> = Extract<UdsPositiveResponse, { service: S }>;

interface InFlight {
  /** Offers a response to the pending request; false when it is not the pending request's. */
  offer(response: Uint8Array): boolean;
  cancel(error: OtaError): void;
}

const RESPONSE_PENDING = NRC.requestCorrectlyReceivedResponsePending;

function closedError(): OtaError {
  return new OtaError('UDS_CLIENT_CLOSED', 'the UDS client is closed');
}

function asOtaError(e: unknown): OtaError {
  return isOtaError(e) ? e : new OtaError('UDS_LINK', `the UDS link failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** A UDS tester for one ECU over a `UdsLink`. */
export class UdsClient {
  readonly link: UdsLink;
  readonly clock: Clock;
  private readonly defaults: { p2Ms: number; p2StarMs: number };
  private readonly marginMs: number;
  private readonly keepAliveEnabled: boolean;
  private readonly keepAliveIntervalMs: number;
  private readonly didLengths: ReadonlyMap<number, number> | undefined;
  private p2Ms: number;
  private p2StarMs: number;
  private currentSession: number = SESSION_TYPE.defaultSession;
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private inFlight: InFlight | undefined;
  private keepAliveTimer: TimerHandle | undefined;
  private closed = false;
  private ignored = 0;
  private keepAlivesSent = 0;
  private readonly unsubscribe: () => void;

  constructor(link: UdsLink, options: UdsClientOptions = {}) {
    this.link = link;
    this.clock = options.clock ?? systemClock;
    this.defaults = {
      p2Ms: options.p2Ms ?? UDS_CLIENT_DEFAULTS.p2Ms,
      p2StarMs: options.p2StarMs ?? UDS_CLIENT_DEFAULTS.p2StarMs,
    };
    this.p2Ms = this.defaults.p2Ms;
    this.p2StarMs = this.defaults.p2StarMs;
    this.marginMs = options.marginMs ?? UDS_CLIENT_DEFAULTS.marginMs;
    this.keepAliveEnabled = options.keepAlive ?? true;
    this.keepAliveIntervalMs = options.keepAliveIntervalMs ?? UDS_CLIENT_DEFAULTS.keepAliveIntervalMs;
    this.didLengths = options.didLengths;
    this.unsubscribe = link.onResponse((res) => {
      if (this.inFlight?.offer(res) !== true) this.ignored++;
    });
  }

  /** The current P2client / P2*client in ms (server values plus margin). */
  get timing(): { p2ClientMs: number; p2StarClientMs: number } {
    return { p2ClientMs: this.p2Ms + this.marginMs, p2StarClientMs: this.p2StarMs + this.marginMs };
  }

  /** The session the last session control (or reset) response put the ECU in. */
  get activeSession(): number {
    return this.currentSession;
  }

  /** Responses that matched no pending request (late answers, unsolicited messages). */
  get ignoredResponses(): number {
    return this.ignored;
  }

  /** Keep-alive `3E 80` requests sent so far. */
  get keepAliveCount(): number {
    return this.keepAlivesSent;
  }

  /**
   * Sends one request (typed, or raw bytes) after those queued before it and resolves with the decoded
   * response; `undefined` only for a suppressed positive response that drew no answer.
   */
  request(req: UdsRequest | Uint8Array, opts: UdsRequestOptions = {}): Promise<UdsResponse | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = req instanceof Uint8Array ? Uint8Array.from(req) : encodeRequest(req);
      if (bytes.length === 0) throw new DecodeError('UDS_EMPTY', 'empty UDS request');
    } catch (e) {
      return Promise.reject(asOtaError(e));
    }
    return this.enqueue(() => this.exchange(bytes, opts));
  }

  /** Sends `req` and resolves with its positive response of `service`; anything else rejects. */
  async requestPositive<S extends ServiceName>(req: UdsRequest, service: S, opts: UdsRequestOptions = {}): Promise<PositiveOf<S>> {
    const res = await this.request(req, { ...opts, acceptNegative: false });
    if (res === undefined || res.kind !== 'positive' || res.service !== service) {
      throw new OtaError('UDS_UNEXPECTED_RESPONSE', `expected a positive ${service} response, got ${res === undefined ? 'none' : res.kind}`);
    }
    return res as PositiveOf<S>;
  }

  /** DiagnosticSessionControl (0x10); updates P2/P2* from the response and starts or stops the keep-alive. */
  session(sessionType: number, opts: UdsRequestOptions = {}): Promise<DiagnosticSessionControlResponse> {
    return this.requestPositive({ service: 'DiagnosticSessionControl', sessionType, suppressPositiveResponse: false }, 'DiagnosticSessionControl', opts);
  }

  /**
   * SecurityAccess (0x27): requestSeed `level` (odd, e.g. 0x11), then sendKey `level + 1` with the key
   * for `secret` (ARCHITECTURE.md §2.4). An all-zero seed means the level is already unlocked.
   */
  async unlock(level: number, secret: Uint8Array, opts: UdsRequestOptions = {}): Promise<void> {
    const seedRes = await this.requestPositive({ service: 'SecurityAccess', securityAccessType: level, data: new Uint8Array(0), suppressPositiveResponse: false }, 'SecurityAccess', opts);
    const seed = seedRes.securitySeed;
    // ISO 14229-1 §10.4.2: an all-zero seed → the server is already unlocked at this level.
    if (seed.every((b) => b === 0)) return;
    const data = securityAccessKey(secret, seed);
    await this.requestPositive({ service: 'SecurityAccess', securityAccessType: level + 1, data, suppressPositiveResponse: false }, 'SecurityAccess', opts);
  }

  /** ReadDataByIdentifier (0x22) for one DID: its data record. */
  async readDid(did: number, opts: UdsRequestOptions = {}): Promise<Uint8Array> {
    const res = await this.requestPositive({ service: 'ReadDataByIdentifier', dids: [did] }, 'ReadDataByIdentifier', opts);
    const record = res.records[0];
    if (res.records.length !== 1 || record === undefined || record.did !== did) {
      throw new OtaError('UDS_UNEXPECTED_RESPONSE', `ReadDataByIdentifier 0x${did.toString(16)} answered other identifiers`);
    }
    return record.data;
  }

  /** WriteDataByIdentifier (0x2E). */
  async writeDid(did: number, data: Uint8Array, opts: UdsRequestOptions = {}): Promise<void> {
    const res = await this.requestPositive({ service: 'WriteDataByIdentifier', did, data }, 'WriteDataByIdentifier', opts);
    if (res.did !== did) throw new OtaError('UDS_UNEXPECTED_RESPONSE', `WriteDataByIdentifier 0x${did.toString(16)} answered 0x${res.did.toString(16)}`);
  }

  /** ReadDTCInformation reportDTCByStatusMask (0x19 0x02): the DTCs whose status matches `mask`. */
  async readDtc(mask: number, opts: UdsRequestOptions = {}): Promise<Pick<ReadDtcListResponse, 'statusAvailabilityMask' | 'dtcs'>> {
    const res = await this.requestPositive({ service: 'ReadDTCInformation', reportType: 0x02, dtcStatusMask: mask, suppressPositiveResponse: false }, 'ReadDTCInformation', opts);
    if (res.reportType !== 0x02) throw new OtaError('UDS_UNEXPECTED_RESPONSE', `ReadDTCInformation answered reportType 0x${hex2(res.reportType)}`);
    return { statusAvailabilityMask: res.statusAvailabilityMask, dtcs: res.dtcs };
  }

  /** ClearDiagnosticInformation (0x14); default group 0xFFFFFF = all DTCs. */
  async clearDtc(group: number = ALL_DTC_GROUPS, opts: UdsRequestOptions = {}): Promise<void> {
    await this.requestPositive({ service: 'ClearDiagnosticInformation', groupOfDTC: group }, 'ClearDiagnosticInformation', opts);
  }

  /** ECUReset (0x11); the ECU is then in the default session, so timing returns to the defaults. */
  reset(resetType: number, opts: UdsRequestOptions = {}): Promise<ECUResetResponse> {
    return this.requestPositive({ service: 'ECUReset', resetType, suppressPositiveResponse: false }, 'ECUReset', opts);
  }

  /** RoutineControl (0x31): the routine's status record (everything after the routine id). */
  async routine(routineControlType: number, routineIdentifier: number, optionRecord: Uint8Array = new Uint8Array(0), opts: UdsRequestOptions = {}): Promise<Uint8Array> {
    const res = await this.requestPositive({ service: 'RoutineControl', routineControlType, routineIdentifier, optionRecord, suppressPositiveResponse: false }, 'RoutineControl', opts);
    if (res.routineIdentifier !== routineIdentifier || res.routineControlType !== routineControlType) {
      throw new OtaError('UDS_UNEXPECTED_RESPONSE', `RoutineControl 0x${routineIdentifier.toString(16)} answered routine 0x${res.routineIdentifier.toString(16)}`);
    }
    return res.statusRecord;
  }

  /** TesterPresent `3E 80` (no response expected) — what the keep-alive sends. */
  async testerPresent(): Promise<void> {
    await this.request(Uint8Array.of(0x3e, SUPPRESS_POSITIVE_RESPONSE), { suppressWaitMs: 0 });
  }

  /** Stops the keep-alive, rejects the pending and queued requests with `UDS_CLIENT_CLOSED`, closes the link. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopKeepAlive();
    this.inFlight?.cancel(closedError());
    this.unsubscribe();
    await this.link.close();
  }

  // ── queue and one exchange ────────────────────────────────────────────────────────────────────

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    this.queued++;
    const run = this.tail.then(() => {
      if (this.closed) throw closedError();
      return task();
    });
    const done = (): void => {
      this.queued--;
      this.scheduleKeepAlive();
    };
    run.then(done, done);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** One request → its final response, per ISO 14229-2 §7.2 (P2client, P2*client after each 0x78). */
  private exchange(bytes: Uint8Array, opts: UdsRequestOptions): Promise<UdsResponse | undefined> {
    const sid = bytes[0] as number;
    const service = serviceOfSid(sid);
    const suppressed = service !== undefined && SERVICES_WITH_SUB_FUNCTION.has(service) && bytes.length > 1 && ((bytes[1] as number) & SUPPRESS_POSITIVE_RESPONSE) !== 0;
    const p2 = opts.timeoutMs ?? this.p2Ms + this.marginMs;
    const decode = opts.decode ?? (this.didLengths === undefined ? {} : { didLengths: this.didLengths });
    return new Promise<UdsResponse | undefined>((resolve, reject) => {
      let settled = false;
      let pending = false;
      let timer: TimerHandle | undefined;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) this.clock.clearTimeout(timer);
        this.inFlight = undefined;
        fn();
      };
      const arm = (ms: number, onExpiry: () => void): void => {
        if (timer !== undefined) this.clock.clearTimeout(timer);
        timer = this.clock.setTimeout(() => finish(onExpiry), ms);
      };
      const timeout = (what: string, ms: number) => (): void =>
        reject(new TimeoutError('UDS_TIMEOUT', `no response to SID 0x${hex2(sid)} within ${what} = ${ms} ms`));
      const offer = (res: Uint8Array): boolean => {
        if (settled) return false;
        const negative = res[0] === 0x7f;
        if (!(res.length > 0 && (res[0] === sid + POSITIVE_RESPONSE_OFFSET || (negative && res[1] === sid)))) {
          return false;
        }
        if (negative && res.length === 3 && res[2] === RESPONSE_PENDING) {
          // ISO 14229-2 §7.2: NRC 0x78 → the server needs more time; wait P2*client for the final response.
          pending = true;
          const ms = opts.pendingTimeoutMs ?? this.p2StarMs + this.marginMs;
          arm(ms, timeout('P2*client', ms));
          return true;
        }
        finish(() => {
          let decoded: UdsResponse;
          try {
            decoded = decodeResponse(res, decode);
          } catch (e) {
            reject(asOtaError(e));
            return;
          }
          if (decoded.kind === 'negative') {
            if (opts.acceptNegative === true) resolve(decoded);
            else reject(new UdsNegativeError(decoded.nrc, undefined, { requestSid: sid }));
            return;
          }
          this.observe(decoded);
          resolve(decoded);
        });
        return true;
      };
      this.inFlight = { offer, cancel: (error) => finish(() => reject(error)) };
      this.link.send(bytes).then(
        () => {
          if (settled || pending) return;
          if (!suppressed) {
            arm(p2, timeout('P2client', p2));
            return;
          }
          const wait = opts.suppressWaitMs ?? p2;
          if (wait <= 0) finish(() => resolve(undefined));
          else arm(wait, () => resolve(undefined));
        },
        (e: unknown) => finish(() => reject(asOtaError(e))),
      );
    });
  }

  /** Tracks what a positive response changes on the client side: session, timing, keep-alive. */
  private observe(res: UdsPositiveResponse): void {
    if (res.service === 'DiagnosticSessionControl') {
      // ISO 14229-2 §7.2: P2client/P2*client follow the server's sessionParameterRecord.
      this.p2Ms = res.p2ServerMaxMs;
      this.p2StarMs = res.p2StarServerMaxMs;
      this.currentSession = res.sessionType;
      if (res.sessionType === SESSION_TYPE.defaultSession) this.stopKeepAlive();
    } else if (res.service === 'ECUReset' && res.resetType <= 0x03) {
      // After hardReset/keyOffOnReset/softReset the server restarts in the default session.
      this.p2Ms = this.defaults.p2Ms;
      this.p2StarMs = this.defaults.p2StarMs;
      this.currentSession = SESSION_TYPE.defaultSession;
      this.stopKeepAlive();
    }
  }

  // ── keep-alive ────────────────────────────────────────────────────────────────────────────────

  private keepAliveWanted(): boolean {
    return this.keepAliveEnabled && !this.closed && this.currentSession !== SESSION_TYPE.defaultSession;
  }

  /** (Re)starts the idle timer after any request: the keep-alive only fills silences. */
  private scheduleKeepAlive(): void {
    this.stopKeepAlive();
    if (!this.keepAliveWanted() || this.queued > 0) return;
    const handle = this.clock.setTimeout(() => {
      this.keepAliveTimer = undefined;
      if (!this.keepAliveWanted() || this.queued > 0) return;
      this.keepAlivesSent++;
      // A failed keep-alive (link down) surfaces on the next real request; nothing to report here.
      this.testerPresent().catch(() => undefined);
    }, this.keepAliveIntervalMs);
    // The keep-alive alone must not keep a Node process running.
    if (typeof handle === 'object' && 'unref' in handle && typeof handle.unref === 'function') (handle.unref as () => void).call(handle);
    this.keepAliveTimer = handle;
  }

  private stopKeepAlive(): void {
    if (this.keepAliveTimer !== undefined) this.clock.clearTimeout(this.keepAliveTimer);
    this.keepAliveTimer = undefined;
  }
}
