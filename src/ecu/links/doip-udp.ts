/**
 * UDP_DISCOVERY side of the DoIP entity (ISO 13400-2): answers vehicle identification requests (0x0001, with
 * EID 0x0002, with VIN 0x0003) with a vehicle announcement (0x0004) sent back to the requester, and the
 * entity status (0x4001) and power mode (0x4003) requests. Unsolicited announcements at start-up are not sent.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import {
  DOIP_FURTHER_ACTION,
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

export interface DoipUdpOptions {
  identity: DoipVehicleIdentity;
  /** The entity's logical address. */
  logicalAddress: number;
  protocolVersion: number;
  /** The entity status response (0x4002) to send, also answered on UDP. */
  entityStatus: () => DoipMessage;
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
  return {
    port: socket.address().port,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
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
  const announcement: DoipMessage = {
    type: 'vehicleAnnouncement',
    vin: identity.vin,
    logicalAddress: options.logicalAddress,
    eid: identity.eid,
    gid: identity.gid ?? identity.eid,
    furtherAction: DOIP_FURTHER_ACTION.noFurtherAction,
  };
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
