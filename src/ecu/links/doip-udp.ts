/**
 * UDP_DISCOVERY side of the DoIP entity (ISO 13400-2): answers vehicle identification requests (0x0001, with
 * EID 0x0002, with VIN 0x0003) with a vehicle announcement (0x0004) sent back to the requester, and the
 * entity status (0x4001) and power mode (0x4003) requests. At start-up it sends its vehicle announcements
 * unsolicited: after a random A_DoIP_Announce_Wait (0–500 ms), A_DoIP_Announce_Num (3) of them
 * A_DoIP_Announce_Interval (500 ms) apart, to a broadcast (or, on loopback, the loopback) address.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { systemClock, type Clock, type TimerHandle } from '../../protocol/clock.js';
import {
  DOIP_ANNOUNCE_TIMING,
  DOIP_FURTHER_ACTION,
  DOIP_PORT,
  DOIP_GENERIC_NACK_CODE,
  DOIP_POWER_MODE,
  decodeDoipMessage,
  doipNackFor,
  encodeDoipMessage,
  type DoipMessage,
} from '../../protocol/doip/index.js';
import { OtaError } from '../../protocol/errors.js';

/** What a vehicle announcement says about the vehicle (ISO 13400-2 Table 5). */
export interface DoipVehicleIdentity {
  /** 17-character VIN. */
  vin: string;
  /** Entity id, 6 bytes (typically a MAC address). */
  eid: Uint8Array;
  /** Group id, 6 bytes; default the EID. */
  gid?: Uint8Array;
}

/** Where and how the start-up vehicle announcements go (ISO 13400-2 Table 39 timing by default). */
export interface DoipAnnounceOptions {
  /**
   * Destination address. Default: the bound address itself when it is a loopback address (a tester on the
   * same host), else the limited broadcast 255.255.255.255 (IPv4) or all-nodes ff02::1 (IPv6).
   */
  address?: string;
  /** Destination port; default 13400 (UDP_DISCOVERY, where testers listen). */
  port?: number;
  /** A_DoIP_Announce_Num; default 3. */
  count?: number;
  /** A_DoIP_Announce_Interval in ms; default 500. */
  intervalMs?: number;
  /** Upper bound of the random A_DoIP_Announce_Wait in ms; default 500. */
  maxWaitMs?: number;
  /** Uniform in [0, 1), for A_DoIP_Announce_Wait; default Math.random. */
  random?: () => number;
}

/** One start-up announcement sent (or failed to send: `error`). */
export interface DoipAnnouncement {
  /** `address:port` it went to. */
  to: string;
  /** 1-based number, of `count`. */
  n: number;
  count: number;
  error?: string;
}

export interface DoipUdpOptions {
  identity: DoipVehicleIdentity;
  /** The entity's logical address. */
  logicalAddress: number;
  protocolVersion: number;
  /** The entity status response (0x4002) to send, also answered on UDP. */
  entityStatus: () => DoipMessage;
  /** Start-up vehicle announcements; default on with the defaults of `DoipAnnounceOptions`; false: none. */
  announce?: DoipAnnounceOptions | false;
  /** Timer port of the announcements; default `systemClock`. */
  clock?: Clock;
  /** Told of every announcement sent. */
  onAnnounce?: (announcement: DoipAnnouncement) => void;
}

/** A bound UDP_DISCOVERY endpoint. */
export interface DoipUdpResponder {
  readonly port: number;
  close(): Promise<void>;
}

/** Binds UDP on `host:port` and answers identification requests until closed. */
export async function startDoipUdp(host: string, port: number, options: DoipUdpOptions): Promise<DoipUdpResponder> {
  const { identity } = options;
  if (identity.vin.length !== 17 || identity.eid.length !== 6 || (identity.gid !== undefined && identity.gid.length !== 6)) {
    throw new OtaError('DOIP_VEHICLE_IDENTITY', 'a vehicle identity needs a 17-character VIN and 6-byte EID/GID');
  }
  const plan = options.announce === false ? undefined : announcePlan(host, options.announce ?? {});
  const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: host, port }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', () => undefined); // a failed send to one requester must not end the endpoint
  socket.on('message', (bytes, from) => answer(socket, bytes, from, options));
  const stopAnnouncing = plan === undefined ? () => undefined : announce(socket, plan, options);
  return {
    port: socket.address().port,
    close: () => {
      stopAnnouncing();
      return new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}

interface AnnouncePlan {
  address: string;
  port: number;
  count: number;
  intervalMs: number;
  firstAfterMs: number;
}

function isLoopback(host: string): boolean {
  return host === '::1' || host.startsWith('127.') || host.toLowerCase().startsWith('::ffff:127.');
}

/** The destination and times of the announcements; a bad option is DOIP_ANNOUNCE_CONFIG. */
function announcePlan(host: string, a: DoipAnnounceOptions): AnnouncePlan {
  const count = a.count ?? DOIP_ANNOUNCE_TIMING.count;
  const intervalMs = a.intervalMs ?? DOIP_ANNOUNCE_TIMING.intervalMs;
  const maxWaitMs = a.maxWaitMs ?? DOIP_ANNOUNCE_TIMING.maxWaitMs;
  const port = a.port ?? DOIP_PORT;
  const address = a.address ?? (isLoopback(host) ? host : isIP(host) === 6 ? 'ff02::1' : '255.255.255.255');
  if (!Number.isInteger(count) || count < 1 || count > 100) throw new OtaError('DOIP_ANNOUNCE_CONFIG', `announcement count ${count} is not 1…100`);
  if (!(intervalMs >= 0) || !(maxWaitMs >= 0)) throw new OtaError('DOIP_ANNOUNCE_CONFIG', 'announcement interval and wait must be ≥ 0 ms');
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) throw new OtaError('DOIP_ANNOUNCE_CONFIG', `announcement port ${port} is not 1…65535`);
  if (isIP(address) === 0) throw new OtaError('DOIP_ANNOUNCE_CONFIG', `announcement address ${JSON.stringify(address)} is not an IP address`);
  if ((isIP(address) === 6) !== (isIP(host) === 6)) throw new OtaError('DOIP_ANNOUNCE_CONFIG', `announcement address ${address} is not of the family of ${host}`);
  // A_DoIP_Announce_Wait: a random delay, so entities powered up together do not announce at once.
  const firstAfterMs = Math.floor((a.random ?? Math.random)() * maxWaitMs);
  return { address, port, count, intervalMs, firstAfterMs };
}

/** Sends the announcements of `plan` on the clock; returns what cancels the ones still to come. */
function announce(socket: Socket, plan: AnnouncePlan, options: DoipUdpOptions): () => void {
  const clock = options.clock ?? systemClock;
  const to = `${plan.address.includes(':') ? `[${plan.address}]` : plan.address}:${plan.port}`;
  if (!isLoopback(plan.address) && isIP(plan.address) === 4) socket.setBroadcast(true);
  const bytes = encodeDoipMessage({ ...announcementOf(options), protocolVersion: options.protocolVersion });
  let timer: TimerHandle | null = null;
  let stopped = false;
  const send = (n: number): void => {
    timer = null;
    if (stopped) return;
    socket.send(bytes, plan.port, plan.address, (error) => {
      options.onAnnounce?.({ to, n, count: plan.count, ...(error ? { error: error.message } : {}) });
    });
    if (n < plan.count) timer = clock.setTimeout(() => send(n + 1), plan.intervalMs);
  };
  timer = clock.setTimeout(() => send(1), plan.firstAfterMs);
  return () => {
    stopped = true;
    if (timer !== null) clock.clearTimeout(timer);
    timer = null;
  };
}

/** The vehicle announcement / identification response of this entity (Table 5). */
function announcementOf(options: DoipUdpOptions): DoipMessage {
  const { identity } = options;
  return {
    type: 'vehicleAnnouncement',
    vin: identity.vin,
    logicalAddress: options.logicalAddress,
    eid: identity.eid,
    gid: identity.gid ?? identity.eid,
    furtherAction: DOIP_FURTHER_ACTION.noFurtherAction,
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function answer(socket: Socket, bytes: Buffer, from: RemoteInfo, options: DoipUdpOptions): void {
  const send = (message: DoipMessage): void => {
    socket.send(encodeDoipMessage({ ...message, protocolVersion: options.protocolVersion }), from.port, from.address);
  };
  let request: DoipMessage;
  try {
    // 0xFF is accepted on identification requests in addition to our own version (Table 16).
    request = decodeDoipMessage(bytes, { protocolVersions: [options.protocolVersion] });
  } catch (error) {
    const nack = doipNackFor(error);
    if (nack !== undefined) send(nack.reply); // generic header handler applies to UDP too; no socket to close
    return;
  }
  const { identity } = options;
  const announcement = announcementOf(options);
  switch (request.type) {
    case 'vehicleIdentificationRequest':
      return send(announcement);
    case 'vehicleIdentificationRequestEid':
      // Only the entity with that EID answers; the others stay silent.
      if (sameBytes(request.eid, identity.eid)) send(announcement);
      return;
    case 'vehicleIdentificationRequestVin':
      if (request.vin === identity.vin) send(announcement);
      return;
    case 'powerModeRequest':
      return send({ type: 'powerModeResponse', powerMode: DOIP_POWER_MODE.ready });
    case 'entityStatusRequest':
      return send(options.entityStatus());
    case 'vehicleAnnouncement': // another entity's announcement
    case 'genericNack': // never answer a NACK with a NACK
      return;
    default:
      // ISO 13400-2 [DoIP-042]: a payload type not taken on UDP_DISCOVERY → NACK 0x01.
      return send({ type: 'genericNack', nackCode: DOIP_GENERIC_NACK_CODE.unknownPayloadType });
  }
}
