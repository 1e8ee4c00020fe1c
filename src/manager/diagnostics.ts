/**
 * Remote diagnostics (DOTA): one UDS request to one ECU of one vehicle, through the vehicle's secure
 * channel, with the answer matched by request id. Many requests to many vehicles may be in flight at
 * once. Every request — answered, refused, timed out — is written to diag_log (who, when, request,
 * response, outcome), committed before the caller has its answer (group commit, store/diag-log.ts): what
 * was answered survives a crash, and a row that cannot be written is the caller's error (MGR_LOG_FAILED).
 * Not to the audit log: that is for administrative actions, and a row per request would duplicate
 * diag_log and bury them.
 *
 * The vehicle and ECU checks read the store's in-memory registry: no query per request.
 */
import { randomBytes } from 'node:crypto';
import { isOtaError } from '../protocol/errors.js';
import { toHex } from '../protocol/hex.js';
import { MAX_UDS_BYTES, type DiagResponseMessage } from '../protocol/ota/messages.js';
import { describeUds, nrcName, NEGATIVE_RESPONSE_SID } from '../protocol/uds/index.js';
import { isTopicSafeId } from '../security/topics.js';
import { DiagTimeoutError, GatewayDiagError, gatewayCode, ManagerError } from './errors.js';
import { errorFields, type ManagerLog } from './log.js';
import type { VehicleSessions } from './sessions.js';
import type { ManagerCounters } from './stats.js';
import type { DiagOutcome, Store } from './store/index.js';

export const DEFAULT_DIAG_TIMEOUT_MS = 10_000;
export const MAX_DIAG_TIMEOUT_MS = 600_000;
/** Unwritten diag_log rows (commits failing) from which requests are refused with MGR_LOG_UNAVAILABLE. */
export const MAX_DIAG_LOG_BACKLOG = 10_000;

export interface DiagnoseRequest {
  vehicleId: string;
  ecu: string;
  /** The UDS request bytes (1..65535). */
  request: Uint8Array;
  /** Overall deadline for the answer, 1..600000 ms (default 10000). */
  timeoutMs?: number;
  /** Who asks (recorded in diag_log). */
  actor: string;
}

/** A UDS answer: positive, negative (with its NRC) or none (a suppressed positive response). */
export interface DiagResult {
  /** The request id on the wire. */
  id: string;
  /** diag_log row id. */
  logId: number;
  vehicleId: string;
  ecu: string;
  /** Request and response as upper-case hex without spaces; response null when none came. */
  request: string;
  response: string | null;
  positive: boolean;
  nrc?: { code: number; hex: string; name: string };
  /** describeUds of the response (null when none, or when it does not decode: see decodeError). */
  decoded: unknown;
  decodeError?: { code: string; message: string };
  /** Response-pending (7F xx 78) messages before the final response. */
  pending: number;
  /** Time the gateway spent on UDS (its report), else the round trip. */
  elapsedMs: number;
  /** Manager-measured time from sending the request to the answer. */
  roundTripMs: number;
}

interface Waiting {
  vehicleId: string;
  ecu: string;
  resolve: (msg: DiagResponseMessage) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

export interface DiagnosticsOptions {
  store: Store;
  sessions: VehicleSessions;
  brokerConnected: () => boolean;
  counters: ManagerCounters;
  log: ManagerLog;
  /** How long to wait for a session with an online vehicle this manager holds none for (default 3000). */
  sessionWaitMs?: number;
}

/** The diagnostics service: diagnose() and the response side the sessions feed. */
export class Diagnostics {
  private readonly waiting = new Map<string, Waiting>();
  private closed = false;
  /**
   * Request ids: a random prefix per instance and a counter (24 hex digits, as before). They only have
   * to be unique (a response is matched by id, vehicle and ECU, and comes through the vehicle's
   * authenticated channel), so a counter serves and costs no randomBytes() call per request.
   */
  private readonly idPrefix = randomBytes(6).toString('hex');
  private idCounter = 0;

  constructor(private readonly opts: DiagnosticsOptions) {}

  /** Send one UDS request and wait for its answer. Throws VEHICLE_UNKNOWN, ECU_UNKNOWN, VEHICLE_OFFLINE, DIAG_TIMEOUT, … */
  async diagnose(req: DiagnoseRequest): Promise<DiagResult> {
    const timeoutMs = req.timeoutMs ?? DEFAULT_DIAG_TIMEOUT_MS;
    checkInput(req, timeoutMs);
    const at = new Date().toISOString();
    const requestHex = toHex(req.request, '');
    const started = performance.now();
    const id = this.idPrefix + (this.idCounter++).toString(16).padStart(12, '0');
    let result: DiagResult;
    try {
      const answer = await this.exchange(req, id, requestHex, timeoutMs, started);
      result = this.toResult(req, id, requestHex, answer, started);
    } catch (e) {
      const code = isOtaError(e) ? e.code : 'INTERNAL';
      const outcome: DiagOutcome = code === 'DIAG_TIMEOUT' || code === 'UDS_TIMEOUT' ? 'timeout' : 'error';
      this.opts.counters.diag[outcome]++;
      const elapsed = Math.round(performance.now() - started);
      if (code === 'MGR_LOG_UNAVAILABLE') {
        // Nothing was sent; logging the refusal would only add to the rows that cannot be written.
        this.opts.log('error', 'diag.not_logged', { vehicleId: req.vehicleId, actor: req.actor, backlog: this.opts.store.diagBacklog });
        throw e;
      }
      // The refusal or timeout is answered only once its row is committed (or as MGR_LOG_FAILED).
      await this.record(req, at, { requestHex, response: null, outcome, nrc: null, errorCode: code, elapsedMs: elapsed });
      throw e;
    }
    const outcome: DiagOutcome = result.positive ? 'positive' : 'negative';
    this.opts.counters.diag[outcome]++;
    result.logId = await this.record(req, at, { requestHex, response: result.response, outcome, nrc: result.nrc?.code ?? null, errorCode: null, elapsedMs: result.elapsedMs });
    return result;
  }

  private async exchange(req: DiagnoseRequest, id: string, requestHex: string, timeoutMs: number, started: number): Promise<DiagResponseMessage> {
    if (this.closed) throw new ManagerError('MGR_CLOSED', 'the manager is shutting down');
    if (this.opts.store.diagLogFailing || this.opts.store.diagBacklog >= MAX_DIAG_LOG_BACKLOG) {
      throw new ManagerError('MGR_LOG_UNAVAILABLE', `the diagnostic log cannot be written (${this.opts.store.diagBacklog} rows waiting): nothing is sent that could not be logged`);
    }
    const vehicle = this.opts.store.peekVehicle(req.vehicleId) ?? (await this.opts.store.getVehicle(req.vehicleId));
    if (!vehicle) throw new ManagerError('VEHICLE_UNKNOWN', `no vehicle '${req.vehicleId}'`);
    // Before the first announce we know no ECU names, and let the gateway judge.
    if (vehicle.ecus.length > 0 && !vehicle.ecus.some((e) => e.name === req.ecu)) {
      throw new ManagerError('ECU_UNKNOWN', `vehicle '${req.vehicleId}' has no ECU '${req.ecu}'`);
    }
    if (!vehicle.online) throw new ManagerError('VEHICLE_OFFLINE', `vehicle '${req.vehicleId}' is offline`);
    if (!this.opts.brokerConnected()) throw new ManagerError('BROKER_DISCONNECTED', 'the manager is not connected to the broker');
    if (this.opts.sessions.state(req.vehicleId) !== 'established') {
      const wait = Math.min(this.opts.sessionWaitMs ?? 3000, Math.floor(timeoutMs / 2));
      if (!(await this.opts.sessions.awaitSession(req.vehicleId, wait))) {
        throw new ManagerError('VEHICLE_OFFLINE', `no secure channel with '${req.vehicleId}'`);
      }
    }
    const remaining = Math.max(1, timeoutMs - Math.round(performance.now() - started));
    // The gateway gets a little less time than we wait, so its own UDS_TIMEOUT normally arrives first.
    const gatewayTimeout = Math.max(1, remaining - Math.min(1000, Math.floor(remaining / 4)));
    const answer = new Promise<DiagResponseMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new DiagTimeoutError(`no answer from '${req.vehicleId}' within ${timeoutMs} ms`));
      }, remaining);
      this.waiting.set(id, { vehicleId: req.vehicleId, ecu: req.ecu, resolve, reject, timer });
    });
    this.opts.counters.diag.inFlight++;
    this.opts.counters.diag.sent++;
    // Not awaited: the answer may settle (its timer, onOffline, close) before the broker's PUBACK, and a
    // rejection of `answer` while nobody awaits it yet is an unhandled rejection that ends the process.
    // `answer` is the one promise awaited; a failed publish settles it like any other outcome.
    let sending: Promise<void>;
    try {
      sending = this.opts.sessions.sendControl(req.vehicleId, { type: 'diag.request', id, ecu: req.ecu, request: requestHex, timeoutMs: gatewayTimeout });
    } catch (e) {
      sending = Promise.reject(e);
    }
    sending.catch((e: unknown) => this.settle(id)?.reject(e));
    try {
      return await answer;
    } finally {
      this.opts.counters.diag.inFlight--;
    }
  }

  /** The caller's result for the gateway's answer (logId 0 until recorded); throws the gateway's error. */
  private toResult(req: DiagnoseRequest, id: string, requestHex: string, msg: DiagResponseMessage, started: number): DiagResult {
    const roundTripMs = Math.round(performance.now() - started);
    const elapsedMs = msg.elapsedMs ?? roundTripMs;
    if (msg.error) {
      // The gateway's error code is its own: UDS_TIMEOUT, GW_UNKNOWN_ECU, GW_BUSY, link errors.
      throw new GatewayDiagError(gatewayCode(msg.error.code), `gateway: ${msg.error.message}`);
    }
    const response = msg.response ?? null;
    const bytes = response === null ? undefined : new Uint8Array(Buffer.from(response, 'hex'));
    // ISO 14229-1 §8.7: a negative response is 7F <request SID> <NRC>.
    const nrcCode = bytes && bytes.length >= 3 && bytes[0] === NEGATIVE_RESPONSE_SID ? (bytes[2] as number) : undefined;
    const result: DiagResult = {
      id,
      logId: 0,
      vehicleId: req.vehicleId,
      ecu: req.ecu,
      request: requestHex,
      response,
      positive: nrcCode === undefined,
      decoded: null,
      pending: msg.pending ?? 0,
      elapsedMs,
      roundTripMs,
    };
    if (nrcCode !== undefined) result.nrc = { code: nrcCode, hex: '0x' + nrcCode.toString(16).toUpperCase().padStart(2, '0'), name: nrcName(nrcCode) };
    if (bytes) {
      try {
        result.decoded = describeUds(bytes);
      } catch (e) {
        result.decodeError = errorFields(e);
      }
    }
    return result;
  }

  /**
   * Write the diag_log row; resolves with its id once committed (group commit, store/diag-log.ts).
   * Rejects MGR_LOG_FAILED when it cannot be: the caller then gets that error instead of the answer.
   */
  private async record(
    req: DiagnoseRequest,
    at: string,
    r: { requestHex: string; response: string | null; outcome: DiagOutcome; nrc: number | null; errorCode: string | null; elapsedMs: number },
  ): Promise<number> {
    return this.opts.store.recordDiag({
      at,
      actor: req.actor,
      vehicleId: req.vehicleId.slice(0, 64),
      ecu: String(req.ecu).slice(0, 32),
      request: r.requestHex,
      response: r.response,
      outcome: r.outcome,
      nrc: r.nrc,
      errorCode: r.errorCode,
      elapsedMs: r.elapsedMs,
    });
  }

  private settle(id: string): Waiting | undefined {
    const w = this.waiting.get(id);
    if (!w) return undefined;
    clearTimeout(w.timer);
    this.waiting.delete(id);
    return w;
  }

  /** A diag.response from V: true if it answers a request of ours to V and that ECU. */
  onResponse(vehicleId: string, msg: DiagResponseMessage): boolean {
    const w = this.waiting.get(msg.id);
    // A vehicle may only answer requests sent to it, for the ECU they named.
    if (!w || w.vehicleId !== vehicleId || w.ecu !== msg.ecu) return false;
    this.settle(msg.id)?.resolve(msg);
    return true;
  }

  /** V went offline: its requests will not be answered. */
  onOffline(vehicleId: string): void {
    for (const [id, w] of this.waiting) {
      if (w.vehicleId === vehicleId) this.settle(id)?.reject(new ManagerError('VEHICLE_OFFLINE', `vehicle '${vehicleId}' went offline`));
    }
  }

  /** Number of requests waiting for an answer. */
  get inFlight(): number {
    return this.waiting.size;
  }

  /** Fail every waiting request with MGR_CLOSED and refuse new ones. */
  close(): void {
    this.closed = true;
    for (const id of [...this.waiting.keys()]) this.settle(id)?.reject(new ManagerError('MGR_CLOSED', 'the manager is shutting down'));
  }
}

function bad(m: string): never {
  throw new ManagerError('MGR_BAD_INPUT', m);
}

function checkInput(req: DiagnoseRequest, timeoutMs: number): void {
  if (typeof req.vehicleId !== 'string' || !isTopicSafeId(req.vehicleId)) bad('vehicle id must be 1..64 characters without / # +');
  if (typeof req.ecu !== 'string' || req.ecu.length === 0 || req.ecu.length > 32) bad('ecu must be a name of 1..32 characters');
  if (!(req.request instanceof Uint8Array) || req.request.length === 0 || req.request.length > MAX_UDS_BYTES) bad(`request must be 1..${MAX_UDS_BYTES} bytes`);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_DIAG_TIMEOUT_MS) bad(`timeoutMs must be an integer 1..${MAX_DIAG_TIMEOUT_MS}`);
  if (typeof req.actor !== 'string' || req.actor.length === 0 || req.actor.length > 128) bad('actor must be 1..128 characters');
}
