/**
 * A DoIP entity (ISO 13400-2, protocol version 0x02) on TCP in front of one or more UDS servers keyed by logical address:
 * routing activation with the socket handler's rules (tester address range, one tester per socket, alive
 * check before refusing a second registration, max registered sockets, a bounded pool of sockets not yet
 * activated whose oldest is evicted for a newcomer), the diagnostic message handler
 * (positive ACK first, then every UDS response as a diagnostic message), entity status, power mode and,
 * optionally, UDP vehicle identification on the same port.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { systemClock, type Clock } from '../../protocol/clock.js';
import {
  DOIP_ACTIVATION_TYPE,
  DOIP_DEFAULT_MAX_PAYLOAD_LENGTH,
  DOIP_DEFAULTS,
  DOIP_DIAGNOSTIC_ACK_CODE,
  DOIP_DIAGNOSTIC_NACK_CODE,
  DOIP_GENERIC_NACK_CODE,
  DOIP_NODE_TYPE,
  DOIP_POWER_MODE,
  DOIP_ROUTING_ACTIVATION_RESPONSE_CODE as RA,
  type DoipMessage,
  type DoipMessageOf,
} from '../../protocol/doip/index.js';
import { OtaError } from '../../protocol/errors.js';
import { negativeResponseFor } from '../../protocol/uds/nrc.js';
import type { UdsRequestHandler } from '../../protocol/uds/ports.js';
import { DEFAULT_DOIP_TIMERS, DoipConnection, type DoipConnectionHost, type DoipConnectionTimers } from './doip-connection.js';
import { startDoipUdp, type DoipAnnounceOptions, type DoipUdpResponder, type DoipVehicleIdentity } from './doip-udp.js';

export { DEFAULT_DOIP_TIMERS, type DoipConnectionTimers } from './doip-connection.js';
export type { DoipAnnounceOptions, DoipVehicleIdentity } from './doip-udp.js';

/** ISO 13400-2 logical address ranges: 0x0E00–0x0FFF is external and internal test equipment. */
export const DOIP_TESTER_ADDRESS_RANGE = [0x0e00, 0x0fff] as const;

export interface DoipServerOptions {
  /** The UDS servers behind this entity, by logical address (e.g. 0x0010 → the engine ECU). */
  targets: ReadonlyMap<number, UdsRequestHandler>;
  /** Interface to bind; default 127.0.0.1 (pass 0.0.0.0 to serve a network). */
  host?: string;
  /** TCP (and UDP) port; default 13400, 0 = ephemeral. */
  port?: number;
  /** The entity's own logical address, sent in routing activation responses; default the first target. */
  entityAddress?: number;
  /** Tester addresses allowed to activate routing (inclusive); default 0x0E00–0x0FFF. */
  testerAddresses?: readonly [number, number];
  /** Activation types accepted; default 0x00 (default) and 0x01 (WWH-OBD). */
  activationTypes?: readonly number[];
  /** Max concurrently registered TCP_DATA sockets; default 2. Further testers are told 0x01. */
  maxSockets?: number;
  /**
   * Max sockets connected but not yet activated (default 64). A connect beyond it evicts the oldest such
   * socket that has not asked for routing activation, so a flood of bare connects cannot keep a tester out.
   */
  maxPendingSockets?: number;
  /** Largest payload accepted (generic NACK 0x02 above it); announced as max data size. Default 4100. */
  maxPayloadLength?: number;
  /** Protocol version spoken and accepted; default 0x02 (ISO 13400-2:2012). */
  protocolVersion?: number;
  timers?: Partial<DoipConnectionTimers>;
  /** Answer vehicle identification requests on UDP (same host and port); default off. */
  udp?: DoipVehicleIdentity | false;
  /**
   * With `udp`: the vehicle announcements sent at start (ISO 13400-2: 3 × 500 ms after a random 0–500 ms);
   * default on, to 255.255.255.255:13400 (ff02::1 on IPv6, the bound address on loopback). false: none.
   */
  announce?: DoipAnnounceOptions | false;
  /** Timer port; default `systemClock`. */
  clock?: Clock;
  /** Observer for logs and traces (never given key material beyond the UDS bytes themselves). */
  onEvent?: (event: DoipServerEvent) => void;
}

/** What the server reports to `onEvent`. `remote` is the tester's `ip:port`. */
export type DoipServerEvent =
  | { kind: 'connected'; remote: string }
  | { kind: 'activation'; remote: string; sourceAddress: number; activationType: number; responseCode: number }
  | { kind: 'request'; remote: string; sourceAddress: number; targetAddress: number; data: Uint8Array }
  | { kind: 'response'; remote: string; sourceAddress: number; targetAddress: number; data: Uint8Array }
  | { kind: 'diagnosticNack'; remote: string; sourceAddress: number; targetAddress: number; nackCode: number }
  | { kind: 'headerNack'; remote: string; nackCode: number }
  | { kind: 'handlerError'; remote: string; targetAddress: number; error: unknown }
  | { kind: 'closed'; remote: string; reason: string }
  | { kind: 'announcement'; to: string; n: number; count: number; error?: string };

/** A listening DoIP entity. */
export interface DoipServer {
  /** The bound TCP address (the real port when 0 was asked for). */
  readonly address: { host: string; port: number };
  /** Open TCP_DATA sockets. */
  readonly openSockets: number;
  /** Stops listening, closes every socket and the UDP endpoint; resolves when all are closed. */
  close(): Promise<void>;
}

/** Starts a DoIP entity; resolves once it listens (and its UDP endpoint is bound, when asked for). */
export async function startDoipServer(options: DoipServerOptions): Promise<DoipServer> {
  const entity = new DoipEntity(options);
  await entity.listen(options.host ?? '127.0.0.1', options.port ?? DOIP_DEFAULTS.port, options.udp ?? false, options.announce ?? {});
  return entity;
}

class DoipEntity implements DoipServer, DoipConnectionHost {
  readonly clock: Clock;
  readonly timers: DoipConnectionTimers;
  readonly protocolVersion: number;
  readonly #targets: ReadonlyMap<number, UdsRequestHandler>;
  readonly #entityAddress: number;
  readonly #testers: readonly [number, number];
  readonly #activationTypes: readonly number[];
  readonly #maxSockets: number;
  readonly #maxPending: number;
  readonly #maxPayloadLength: number;
  readonly #onEvent: (event: DoipServerEvent) => void;
  /** Every open socket, oldest first (Set order is insertion order). */
  readonly #connections = new Set<DoipConnection>();
  /** Sockets whose routing activation request is queued or being handled: never evicted as idle. */
  readonly #activating = new Set<DoipConnection>();
  readonly #server: Server;
  /** Routing activations run one at a time, so two testers cannot race for one address or the last socket. */
  #activations: Promise<void> = Promise.resolve();
  /** Requests to one UDS server run one at a time, in arrival order (an ECU serves one request at a time). */
  readonly #targetQueues = new Map<number, Promise<void>>();
  #udp: DoipUdpResponder | undefined;
  #address = { host: '', port: 0 };

  constructor(options: DoipServerOptions) {
    if (options.targets.size === 0) throw new OtaError('DOIP_NO_TARGET', 'a DoIP server needs at least one target');
    this.clock = options.clock ?? systemClock;
    this.timers = { ...DEFAULT_DOIP_TIMERS, ...options.timers };
    this.protocolVersion = options.protocolVersion ?? DOIP_DEFAULTS.protocolVersion;
    this.#targets = options.targets;
    this.#entityAddress = options.entityAddress ?? (options.targets.keys().next().value as number);
    this.#testers = options.testerAddresses ?? DOIP_TESTER_ADDRESS_RANGE;
    this.#activationTypes = options.activationTypes ?? [DOIP_ACTIVATION_TYPE.default, DOIP_ACTIVATION_TYPE.wwhObd];
    this.#maxSockets = options.maxSockets ?? 2;
    this.#maxPending = options.maxPendingSockets ?? 64;
    if (!Number.isInteger(this.#maxPending) || this.#maxPending < 1) throw new RangeError('maxPendingSockets must be an integer >= 1');
    this.#maxPayloadLength = options.maxPayloadLength ?? DOIP_DEFAULT_MAX_PAYLOAD_LENGTH;
    this.#onEvent = options.onEvent ?? (() => undefined);
    // No maxConnections: Node would drop every connect beyond it, and a flood of bare connects holding
    // the places until T_TCP_Initial_Inactivity locks every tester out. The pending pool bounds them instead.
    this.#server = createServer((socket) => this.#accept(socket));
  }

  get address(): { host: string; port: number } {
    return { ...this.#address };
  }

  get openSockets(): number {
    return this.#connections.size;
  }

  async listen(host: string, port: number, udp: DoipVehicleIdentity | false, announce: DoipAnnounceOptions | false): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host, port }, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const bound = this.#server.address();
    this.#address = typeof bound === 'object' && bound !== null ? { host: bound.address, port: bound.port } : { host, port };
    if (udp === false) return;
    try {
      this.#udp = await startDoipUdp(this.#address.host, this.#address.port, {
        identity: udp,
        logicalAddress: this.#entityAddress,
        protocolVersion: this.protocolVersion,
        entityStatus: () => this.#entityStatus(),
        announce,
        clock: this.clock,
        onAnnounce: (a) => this.#onEvent({ kind: 'announcement', ...a }),
      });
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const connection of [...this.#connections]) connection.close('server closing');
    await Promise.all([closed, this.#udp?.close()]);
  }

  // ── DoipConnectionHost ────────────────────────────────────────────────────────────────────────────

  onMessage(connection: DoipConnection, message: DoipMessage): void | Promise<void> {
    switch (message.type) {
      case 'routingActivationRequest': {
        this.#activating.add(connection);
        const run = this.#activations.then(() => this.#activate(connection, message)).finally(() => this.#activating.delete(connection));
        this.#activations = run.catch(() => undefined);
        return run;
      }
      case 'diagnosticMessage':
        this.#diagnostic(connection, message);
        return;
      case 'aliveCheckRequest':
        // Not required of an entity, but harmless: lets a tester probe the link.
        connection.send({ type: 'aliveCheckResponse', sourceAddress: this.#entityAddress });
        return;
      case 'entityStatusRequest':
        connection.send(this.#entityStatus());
        return;
      case 'powerModeRequest':
        connection.send({ type: 'powerModeResponse', powerMode: DOIP_POWER_MODE.ready });
        return;
      case 'aliveCheckResponse': // settled by the connection's alive check
      case 'genericNack': // a tester's complaint about something we sent: nothing to answer
        return;
      default:
        // ISO 13400-2 [DoIP-042]: a payload type this entity does not take on TCP_DATA → NACK 0x01, discard.
        connection.send({ type: 'genericNack', nackCode: DOIP_GENERIC_NACK_CODE.unknownPayloadType });
        this.#onEvent({ kind: 'headerNack', remote: connection.remote, nackCode: DOIP_GENERIC_NACK_CODE.unknownPayloadType });
    }
  }

  onHeaderNack(connection: DoipConnection, nackCode: number): void {
    this.#onEvent({ kind: 'headerNack', remote: connection.remote, nackCode });
  }

  onClosed(connection: DoipConnection, reason: string): void {
    this.#activating.delete(connection);
    if (this.#connections.delete(connection)) this.#onEvent({ kind: 'closed', remote: connection.remote, reason });
  }

  /** Entity status response (ISO 13400-2 Table 11): node type, max and open sockets, max data size. */
  #entityStatus(): DoipMessageOf<'entityStatusResponse'> {
    return {
      type: 'entityStatusResponse',
      nodeType: this.#targets.size > 1 ? DOIP_NODE_TYPE.gateway : DOIP_NODE_TYPE.node,
      maxOpenSockets: Math.min(this.#maxSockets, 0xff),
      openSockets: Math.min(this.#connections.size, 0xff),
      maxDataSize: this.#maxPayloadLength,
    };
  }

  // ── handlers ──────────────────────────────────────────────────────────────────────────────────────

  #accept(socket: Socket): void {
    this.#evictPending();
    const connection = new DoipConnection(socket, this, this.#maxPayloadLength);
    this.#connections.add(connection);
    this.#onEvent({ kind: 'connected', remote: connection.remote });
  }

  /**
   * Make room in the pool of sockets without routing activation before a new one joins: while it is full,
   * close the oldest that has not asked for activation (else the oldest). Each still had its
   * T_TCP_Initial_Inactivity; a tester's socket asks at once and so is not the one evicted.
   */
  #evictPending(): void {
    const pending = [...this.#connections].filter((c) => c.sourceAddress === undefined);
    let excess = pending.length - this.#maxPending + 1;
    for (const idle of [pending.filter((c) => !this.#activating.has(c)), pending]) {
      for (const c of idle) {
        if (excess <= 0) return;
        if (c.closed) continue;
        c.close('evicted from the pool of sockets without routing activation', { linger: false });
        excess--;
      }
    }
  }

  /** The routing activation handler (ISO 13400-2): address and type checks, then the socket handler. */
  async #activate(connection: DoipConnection, request: DoipMessageOf<'routingActivationRequest'>): Promise<void> {
    if (connection.closed) return;
    const sa = request.sourceAddress;
    const answer = (responseCode: number, close: boolean): void => {
      connection.send({
        type: 'routingActivationResponse',
        testerAddress: sa,
        entityAddress: this.#entityAddress,
        responseCode,
      });
      this.#onEvent({ kind: 'activation', remote: connection.remote, sourceAddress: sa, activationType: request.activationType, responseCode });
      if (close) connection.close(`routing activation refused with 0x${responseCode.toString(16).padStart(2, '0')}`);
    };
    // ISO 13400-2 Table 49 code 0x00: a source address outside the tester range is unknown → deny, close.
    if (sa < this.#testers[0] || sa > this.#testers[1]) return answer(RA.unknownSourceAddress, true);
    // Table 49 code 0x06: an activation type (Table 47) this entity does not support → deny, close.
    if (!this.#activationTypes.includes(request.activationType)) return answer(RA.unsupportedActivationType, true);
    if (connection.sourceAddress !== undefined) {
      // Socket already registered: the same tester again is confirmed; another address → 0x02 (Table 49), close.
      if (connection.sourceAddress === sa) return answer(RA.successfullyActivated, false);
      return answer(RA.sourceAddressMismatch, true);
    }
    const holder = [...this.#connections].find((c) => c !== connection && c.sourceAddress === sa);
    if (holder !== undefined) {
      // Socket handler: the address is registered on another socket → alive check it; alive → 0x03, close.
      if (await holder.aliveCheck()) return answer(RA.sourceAddressAlreadyActive, true);
      holder.close('alive check unanswered: its address was claimed by a new socket');
    }
    const registered = [...this.#connections].filter((c) => c.sourceAddress !== undefined);
    if (registered.length >= this.#maxSockets) {
      // Socket handler: every socket taken → alive check them all; free the silent ones, else 0x01, close.
      const alive = await Promise.all(registered.map((c) => c.aliveCheck()));
      registered.forEach((c, i) => {
        if (alive[i] !== true) c.close('alive check unanswered: its socket was needed by a new tester');
      });
      if (alive.every(Boolean)) return answer(RA.allSocketsRegistered, true);
    }
    if (connection.closed) return;
    connection.register(sa);
    answer(RA.successfullyActivated, false);
  }

  /** The diagnostic message handler (ISO 13400-2): source address, then target address, then ACK and forward. */
  #diagnostic(connection: DoipConnection, message: DoipMessageOf<'diagnosticMessage'>): void {
    const { sourceAddress: sa, targetAddress: ta } = message;
    const nack = (nackCode: number): void => {
      connection.send({ type: 'diagnosticNack', sourceAddress: ta, targetAddress: sa, nackCode });
      this.#onEvent({ kind: 'diagnosticNack', remote: connection.remote, sourceAddress: sa, targetAddress: ta, nackCode });
    };
    // ISO 13400-2 Table 26 NACK 0x02: routing not active on this socket, or another source address → close.
    if (connection.sourceAddress === undefined || connection.sourceAddress !== sa) {
      nack(DOIP_DIAGNOSTIC_NACK_CODE.invalidSourceAddress);
      connection.close('diagnostic message from an address not activated on this socket');
      return;
    }
    // Table 26 NACK 0x03: unknown target address; the socket stays open.
    const handler = this.#targets.get(ta);
    if (handler === undefined) {
      nack(DOIP_DIAGNOSTIC_NACK_CODE.unknownTargetAddress);
      return;
    }
    // Table 24: positive ACK as soon as the message is accepted for the target, before any response.
    connection.send({ type: 'diagnosticAck', sourceAddress: ta, targetAddress: sa, ackCode: DOIP_DIAGNOSTIC_ACK_CODE.acknowledged });
    const request = Uint8Array.from(message.userData); // the decoded bytes are a view into a socket chunk
    this.#onEvent({ kind: 'request', remote: connection.remote, sourceAddress: sa, targetAddress: ta, data: request });
    const previous = this.#targetQueues.get(ta) ?? Promise.resolve();
    const run = previous.then(() => this.#serve(connection, handler, ta, sa, request));
    this.#targetQueues.set(ta, run);
    void run.finally(() => {
      if (this.#targetQueues.get(ta) === run) this.#targetQueues.delete(ta);
    });
  }

  async #serve(connection: DoipConnection, handler: UdsRequestHandler, ta: number, sa: number, request: Uint8Array): Promise<void> {
    const respond = (response: Uint8Array): void => {
      if (response.length === 0) return;
      const data = Uint8Array.from(response);
      if (!connection.send({ type: 'diagnosticMessage', sourceAddress: ta, targetAddress: sa, userData: data })) return;
      this.#onEvent({ kind: 'response', remote: connection.remote, sourceAddress: ta, targetAddress: sa, data });
    };
    try {
      await handler.handle(request, respond, { functional: false });
    } catch (error) {
      // A handler fault must not leave the tester waiting: answer 7F SID 10 generalReject (or the error's NRC).
      this.#onEvent({ kind: 'handlerError', remote: connection.remote, targetAddress: ta, error });
      respond(negativeResponseFor(error, request[0] ?? 0));
    }
  }
}
