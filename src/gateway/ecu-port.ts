/**
 * One ECU as the gateway sees it: its UDS tester (`UdsClient`: P2/P2*, 0x78, TesterPresent keep-alive)
 * behind a queue, so one request at a time reaches the ECU — diagnostics from the manager and the
 * gateway's own inventory reads alike — and a bounded number wait (more → `GW_BUSY`).
 *
 * Diagnostic pass-through: the manager gets the ECU's final response bytes exactly as sent (positive or
 * negative, even if our decoder would not understand them), the number of `7F <SID> 78` before it, and
 * the elapsed time; or an error `{ code, message }` (UDS_TIMEOUT, link errors).
 */
import type { Clock } from '../protocol/clock.js';
import { OtaError, isOtaError } from '../protocol/errors.js';
import type { EcuInventory } from '../protocol/ota/messages.js';
import { DID, NRC, POSITIVE_RESPONSE_OFFSET, UdsNegativeError } from '../protocol/uds/index.js';
import type { UdsLink } from '../protocol/uds/ports.js';
import { GW_CODES } from './constants.js';
import { codeOf } from './refusals.js';
import { UdsClient, type UdsClientOptions } from './uds/client.js';

/** An ECU the gateway talks to: its name, how it is attached, and the UDS link to it (the gateway owns the link). */
export interface GatewayEcu {
  name: string;
  link: 'can' | 'doip';
  /** CAN request id or DoIP logical address as the manager sees it, e.g. `0x7E0` / `0x0010`. */
  address: string;
  uds: UdsLink;
  /** The ECU's SecurityAccess secret (level 0x11, key rule of ARCHITECTURE §2.4); without it the gateway cannot flash it. */
  secret?: Uint8Array;
}

/** The virtual ECU's boot-state DID (src/ecu/server: `<mode> <bootReason>`, mode 0x01 bootloader / 0x02 application). */
export const BOOT_STATE_DID = 0xfd00;
const BOOT_MODE: Readonly<Record<number, EcuInventory['mode']>> = { 0x01: 'bootloader', 0x02: 'application' };

/** The result of one diagnostic request: the final response (null: suppressed positive), or an error. */
export type DiagOutcome =
  | { response: Uint8Array | null; pending: number; elapsedMs: number }
  | { error: { code: string; message: string }; pending: number; elapsedMs: number };

interface Read {
  data?: Uint8Array;
  error?: unknown;
}

/** Identification text as the ECU stores it (ASCII, maybe padded): printable text, else hex. */
export function identificationText(data: Uint8Array): string {
  let end = data.length;
  while (end > 0 && [0x00, 0x20, 0xff].includes(data[end - 1] as number)) end--;
  const trimmed = data.subarray(0, end);
  if (trimmed.every((b) => b >= 0x20 && b <= 0x7e)) return Buffer.from(trimmed).toString('latin1');
  return '0x' + Buffer.from(data).toString('hex').toUpperCase();
}

/**
 * What runs on the ECU: the boot-state DID when it answers in our format; otherwise a readable
 * application version means the application, and `requestOutOfRange` for 0xF189 means the bootloader
 * (it has no application to report).
 */
export function inferMode(bootState: Read, appVersion: Read): EcuInventory['mode'] {
  const bs = bootState.data;
  if (bs !== undefined && bs.length === 2) {
    const mode = BOOT_MODE[bs[0] as number];
    if (mode !== undefined) return mode;
  }
  if (appVersion.data !== undefined) return 'application';
  if (appVersion.error instanceof UdsNegativeError && appVersion.error.nrc === NRC.requestOutOfRange) return 'bootloader';
  return 'unknown';
}

export class EcuPort {
  readonly client: UdsClient;
  private tail: Promise<unknown> = Promise.resolve();
  /** Requests enqueued and not finished, the one in work included. */
  private pendingCount = 0;
  private closed = false;
  /** Why the ECU is reserved (a flash), or undefined. */
  private reservedFor: string | undefined;

  constructor(
    readonly ecu: GatewayEcu,
    private readonly clock: Clock,
    private readonly maxQueued: number,
    clientOptions: UdsClientOptions,
  ) {
    this.client = new UdsClient(ecu.uds, { ...clientOptions, clock });
  }

  get name(): string {
    return this.ecu.name;
  }

  /** What holds the ECU exclusively (e.g. `flashing job J`), or undefined. */
  get reserved(): string | undefined {
    return this.reservedFor;
  }

  /**
   * Runs `task` alone with the ECU (a flash): it waits for the request in work and those already
   * queued; from this call until it ends, diagnostic requests answer GW_BUSY at once and inventory
   * reads reject with GW_BUSY (the gateway keeps the entry it had). Inside `task` use `client` and
   * `inventoryNow()` directly.
   */
  exclusive<T>(reason: string, task: () => Promise<T>): Promise<T> {
    if (this.reservedFor !== undefined) return Promise.reject(new OtaError(GW_CODES.busy, `ECU ${this.name} is reserved (${this.reservedFor})`));
    this.reservedFor = reason;
    const run = this.enqueue(task);
    const release = (): void => {
      this.reservedFor = undefined;
    };
    run.then(release, release);
    return run;
  }

  /** Requests waiting behind the one in work. */
  get queued(): number {
    return Math.max(0, this.pendingCount - 1);
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    this.pendingCount++;
    const run = this.tail.then(() => {
      if (this.closed) throw new OtaError(GW_CODES.closed, 'the gateway is closed');
      return task();
    });
    const done = (): void => {
      this.pendingCount--;
    };
    run.then(done, done);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Sends one UDS request and answers within `timeoutMs` of this call: the final response (the client
   * applies P2/P2* per response, 0x78 extensions included), or UDS_TIMEOUT once the request is with the
   * ECU, or GW_BUSY if it is still queued then (it is then dropped, never sent late). `elapsedMs` counts
   * from this call. The queue moves on only when the ECU exchange itself has ended.
   */
  diagnose(request: Uint8Array, timeoutMs: number): Promise<DiagOutcome> {
    if (this.closed) return Promise.resolve({ error: { code: GW_CODES.closed, message: 'the gateway is closed' }, pending: 0, elapsedMs: 0 });
    if (this.reservedFor !== undefined) {
      // Diagnostics pause while the ECU is flashed: a request now could break the programming session.
      return Promise.resolve({ error: { code: GW_CODES.busy, message: `ECU ${this.name} is busy: ${this.reservedFor}` }, pending: 0, elapsedMs: 0 });
    }
    if (this.queued >= this.maxQueued && this.pendingCount > 0) {
      return Promise.resolve({ error: { code: GW_CODES.busy, message: `${this.queued} requests already wait for ECU ${this.name}` }, pending: 0, elapsedMs: 0 });
    }
    const received = this.clock.now();
    const elapsedMs = (): number => Math.max(0, Math.round(this.clock.now() - received));
    return new Promise<DiagOutcome>((resolve) => {
      let settled = false;
      let started = false;
      const progress = { pending: 0 };
      const settle = (outcome: DiagOutcome): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        resolve(outcome);
      };
      const timer = this.clock.setTimeout(() => {
        settle(
          started
            ? { error: { code: 'UDS_TIMEOUT', message: `no final response within ${timeoutMs} ms` }, pending: progress.pending, elapsedMs: elapsedMs() }
            : { error: { code: GW_CODES.busy, message: `still queued behind other requests for ECU ${this.name} after ${timeoutMs} ms` }, pending: 0, elapsedMs: elapsedMs() },
        );
      }, timeoutMs);
      this.enqueue(async () => {
        if (settled) return; // the manager has its answer: do not send the request late
        started = true;
        await this.exchange(request, progress, (o) => settle({ ...o, elapsedMs: elapsedMs() }));
      }).catch((e: unknown) => settle({ error: { code: codeOf(e), message: e instanceof Error ? e.message : String(e) }, pending: progress.pending, elapsedMs: elapsedMs() }));
    });
  }

  /** One request with the ECU: reports its outcome through `settle`, resolves when the client is done with it. */
  private async exchange(request: Uint8Array, progress: { pending: number }, settle: (o: DiagOutcome) => void): Promise<void> {
    const sid = request[0] as number;
    let final: Uint8Array | undefined;
    const off = this.ecu.uds.onResponse((res) => {
      if (res[0] === 0x7f && res[1] === sid) {
        // ISO 14229-2 §7.2: 7F SID 78 = requestCorrectlyReceivedResponsePending, not the final response.
        if (res.length === 3 && res[2] === NRC.requestCorrectlyReceivedResponsePending) progress.pending++;
        else final = Uint8Array.from(res);
      } else if (res[0] === sid + POSITIVE_RESPONSE_OFFSET) {
        final = Uint8Array.from(res);
      }
    });
    try {
      const value = await this.client.request(request, { acceptNegative: true });
      settle({ response: value === undefined ? null : final ?? null, pending: progress.pending, elapsedMs: 0 });
    } catch (e) {
      // The ECU answered but our decoder refused the bytes: the manager still gets them verbatim.
      if (final !== undefined) settle({ response: final, pending: progress.pending, elapsedMs: 0 });
      else settle({ error: { code: codeOf(e), message: e instanceof Error ? e.message : String(e) }, pending: progress.pending, elapsedMs: 0 });
    } finally {
      off();
    }
  }

  /** Reads the ECU's identification over UDS (0xF189, 0xF180, 0xF18C, 0xF191, boot state 0xFD00), queued like any request. */
  readInventory(): Promise<EcuInventory> {
    if (this.reservedFor !== undefined) return Promise.reject(new OtaError(GW_CODES.busy, `ECU ${this.name} is busy: ${this.reservedFor}`));
    return this.enqueue(() => this.inventoryNow());
  }

  private async read(did: number): Promise<Read> {
    try {
      return { data: await this.client.readDid(did) };
    } catch (error) {
      return { error };
    }
  }

  /** Reads the inventory now, bypassing the queue: only inside an `exclusive` task. */
  async inventoryNow(): Promise<EcuInventory> {
    const base = { name: this.ecu.name, link: this.ecu.link, address: this.ecu.address };
    const app = await this.read(DID.vehicleManufacturerECUSoftwareVersionNumber);
    if (isOtaError(app.error) && !(app.error instanceof UdsNegativeError)) {
      // Silent or unreachable ECU: do not spend four more timeouts on it.
      return { ...base, appVersion: null, bootVersion: null, mode: 'unknown', serial: null, hardwareId: null };
    }
    const boot = await this.read(DID.bootSoftwareIdentification);
    const serial = await this.read(DID.ECUSerialNumber);
    const hardware = await this.read(DID.vehicleManufacturerECUHardwareNumber);
    const bootState = await this.read(BOOT_STATE_DID);
    const text = (r: Read): string | null => (r.data === undefined ? null : identificationText(r.data));
    return {
      ...base,
      appVersion: text(app),
      bootVersion: text(boot),
      mode: inferMode(bootState, app),
      serial: text(serial),
      hardwareId: text(hardware),
    };
  }

  /** Rejects queued work, stops the keep-alive and closes the link. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
  }
}
