/**
 * Annotated DoIP vectors, one or more per payload type. Sources:
 * - [pydoip] python-doipclient, tests/test_client.py (github.com/jacobschaer/python-doipclient, commit 9ad5f51),
 *   byte strings used there against its own encoder/decoder; the variable name is given with each vector.
 * - [table] built by us from the field table of ISO 13400-2:2019 named in the comment, with this product's
 *   addresses (tester 0x0E00, engine 0x0010, body 0x0011).
 * - [wireshark] the field layout of Wireshark's DoIP dissector (epan/dissectors/packet-doip.c).
 */
import type { DoipMessage } from '../../../src/protocol/doip/index.js';

export interface Vector {
  readonly name: string;
  readonly source: string;
  /** Hex bytes, one annotated field per line. */
  readonly hex: string;
  readonly message: DoipMessage;
}

const hex = (...fields: string[]): string => fields.join(' ');
const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const ones = (n: number, b = 0x31): Uint8Array => new Uint8Array(n).fill(b);

export const VECTORS: readonly Vector[] = [
  {
    name: 'generic header NACK, invalid payload length',
    source: '[pydoip] nack_response',
    hex: hex(
      '02 FD', //        protocol version 0x02 (ISO 13400-2:2012), inverse 0xFD
      '00 00', //        payload type 0x0000 generic DoIP header negative acknowledge
      '00 00 00 01', //  payload length 1
      '04', //           NACK code 0x04 invalid payload length
    ),
    message: { type: 'genericNack', protocolVersion: 2, nackCode: 0x04 },
  },
  {
    name: 'vehicle identification request',
    source: '[pydoip] vehicle_identification_request',
    hex: hex('02 FD', '00 01' /* type 0x0001 */, '00 00 00 00' /* no payload */),
    message: { type: 'vehicleIdentificationRequest', protocolVersion: 2 },
  },
  {
    name: 'vehicle identification request with default version 0xFF',
    source: '[table] Table 16: 0xFF is the default version for identification requests',
    hex: hex('FF 00' /* version 0xFF, inverse 0x00 */, '00 01', '00 00 00 00'),
    message: { type: 'vehicleIdentificationRequest', protocolVersion: 0xff },
  },
  {
    name: 'vehicle identification request with EID',
    source: '[pydoip] vehicle_identification_request_with_ein',
    hex: hex('02 FD', '00 02' /* type 0x0002 */, '00 00 00 06', '31 31 31 31 31 31' /* EID */),
    message: { type: 'vehicleIdentificationRequestEid', protocolVersion: 2, eid: ones(6) },
  },
  {
    name: 'vehicle identification request with VIN',
    source: '[pydoip] vehicle_identification_request_with_vin',
    hex: hex('02 FD', '00 03' /* type 0x0003 */, '00 00 00 11' /* 17 */, '31 '.repeat(17).trim() /* VIN "1"×17 */),
    message: { type: 'vehicleIdentificationRequestVin', protocolVersion: 2, vin: '1'.repeat(17) },
  },
  {
    name: 'vehicle announcement with VIN/GID sync status',
    source: '[pydoip] vehicle_identification_response',
    hex: hex(
      '02 FD',
      '00 04', //                  type 0x0004 vehicle announcement / identification response
      '00 00 00 21', //            payload length 33 (with the optional sync status)
      '31 '.repeat(17).trim(), //  VIN "11111111111111111"
      '12 34', //                  logical address 0x1234
      '31 31 31 31 31 31', //      EID
      '32 32 32 32 32 32', //      GID
      '00', //                     further action 0x00 none
      '00', //                     VIN/GID sync status 0x00 synchronized
    ),
    message: {
      type: 'vehicleAnnouncement',
      protocolVersion: 2,
      vin: '1'.repeat(17),
      logicalAddress: 0x1234,
      eid: ones(6),
      gid: ones(6, 0x32),
      furtherAction: 0x00,
      syncStatus: 0x00,
    },
  },
  {
    name: 'vehicle announcement without sync status, VIN not configured',
    source: '[table] Table 5 (32-byte form) and Table 1 (VIN not set: 0xFF bytes)',
    hex: hex(
      '02 FD',
      '00 04',
      '00 00 00 20', //            payload length 32
      'FF '.repeat(17).trim(), //  VIN not configured
      '00 10', //                  logical address 0x0010 (engine)
      '02 00 00 00 00 01', //      EID (a MAC address)
      'FF FF FF FF FF FF', //      GID not set
      '10', //                     further action 0x10 routing activation required for central security
    ),
    message: {
      type: 'vehicleAnnouncement',
      protocolVersion: 2,
      vin: '\xff'.repeat(17),
      logicalAddress: 0x0010,
      eid: bytes(2, 0, 0, 0, 0, 1),
      gid: ones(6, 0xff),
      furtherAction: 0x10,
    },
  },
  {
    name: 'routing activation request, default type',
    source: '[pydoip] activation_request',
    hex: hex(
      '02 FD',
      '00 05', //        type 0x0005 routing activation request
      '00 00 00 07', //  payload length 7
      '0E 00', //        source address 0x0E00 (tester)
      '00', //           activation type 0x00 default
      '00 00 00 00', //  ISO reserved
    ),
    message: { type: 'routingActivationRequest', protocolVersion: 2, sourceAddress: 0x0e00, activationType: 0x00 },
  },
  {
    name: 'routing activation request with the VM-specific field',
    source: '[pydoip] activation_request_with_vm',
    hex: hex('02 FD', '00 05', '00 00 00 0B' /* 11 */, '0E 00', '00', '00 00 00 00', '01 02 03 04' /* OEM */),
    message: {
      type: 'routingActivationRequest',
      protocolVersion: 2,
      sourceAddress: 0x0e00,
      activationType: 0x00,
      oemSpecific: 0x01020304,
    },
  },
  {
    name: 'routing activation request under ISO/DIS 13400-2:2010 (2-byte activation type)',
    source: '[wireshark] DOIP_ROUTING_ACTIVATION_REQ_TYPE_LEN_V1 = 2 for version 0x01',
    hex: hex('01 FE' /* version 0x01 */, '00 05', '00 00 00 08' /* 8 */, '0E 00', '00 01' /* WWH-OBD */, '00 00 00 00'),
    message: { type: 'routingActivationRequest', protocolVersion: 1, sourceAddress: 0x0e00, activationType: 0x0001 },
  },
  {
    name: 'routing activation response, successfully activated',
    source: '[pydoip] successful_activation_response',
    hex: hex(
      '02 FD',
      '00 06', //        type 0x0006 routing activation response
      '00 00 00 09', //  payload length 9
      '0E 00', //        tester logical address 0x0E00
      '00 37', //        entity logical address 0x0037
      '10', //           response code 0x10 routing successfully activated
      '00 00 00 00', //  ISO reserved
    ),
    message: {
      type: 'routingActivationResponse',
      protocolVersion: 2,
      testerAddress: 0x0e00,
      entityAddress: 0x0037,
      responseCode: 0x10,
    },
  },
  {
    name: 'routing activation response, denied: unknown source address',
    source: '[pydoip] unsuccessful_activation_response',
    hex: hex('02 FD', '00 06', '00 00 00 09', '0E 00', '00 37', '00' /* 0x00 unknown SA */, '00 00 00 00'),
    message: {
      type: 'routingActivationResponse',
      protocolVersion: 2,
      testerAddress: 0x0e00,
      entityAddress: 0x0037,
      responseCode: 0x00,
    },
  },
  {
    name: 'routing activation response with the VM-specific field',
    source: '[pydoip] successful_activation_response_with_vm',
    hex: hex('02 FD', '00 06', '00 00 00 0D' /* 13 */, '0E 00', '00 37', '10', '00 00 00 00', '04 03 02 01' /* OEM */),
    message: {
      type: 'routingActivationResponse',
      protocolVersion: 2,
      testerAddress: 0x0e00,
      entityAddress: 0x0037,
      responseCode: 0x10,
      oemSpecific: 0x04030201,
    },
  },
  {
    name: 'alive check request',
    source: '[pydoip] alive_check_request',
    hex: hex('02 FD', '00 07' /* type 0x0007 */, '00 00 00 00'),
    message: { type: 'aliveCheckRequest', protocolVersion: 2 },
  },
  {
    name: 'alive check response',
    source: '[pydoip] alive_check_response',
    hex: hex('02 FD', '00 08' /* type 0x0008 */, '00 00 00 02', '0E 00' /* source address 0x0E00 */),
    message: { type: 'aliveCheckResponse', protocolVersion: 2, sourceAddress: 0x0e00 },
  },
  {
    name: 'entity status request',
    source: '[pydoip] entity_status_request',
    hex: hex('02 FD', '40 01' /* type 0x4001 */, '00 00 00 00'),
    message: { type: 'entityStatusRequest', protocolVersion: 2 },
  },
  {
    name: 'entity status response without max data size',
    source: '[pydoip] entity_status_response',
    hex: hex(
      '02 FD',
      '40 02', //        type 0x4002 entity status response
      '00 00 00 03', //  payload length 3
      '01', //           node type 0x01 DoIP node
      '10', //           max concurrent TCP_DATA sockets 16
      '01', //           currently open sockets 1
    ),
    message: { type: 'entityStatusResponse', protocolVersion: 2, nodeType: 1, maxOpenSockets: 16, openSockets: 1 },
  },
  {
    name: 'entity status response with max data size',
    source: '[pydoip] entity_status_response_with_mds',
    hex: hex('02 FD', '40 02', '00 00 00 07' /* 7 */, '01', '10', '01', '00 00 10 00' /* max data size 4096 */),
    message: {
      type: 'entityStatusResponse',
      protocolVersion: 2,
      nodeType: 1,
      maxOpenSockets: 16,
      openSockets: 1,
      maxDataSize: 4096,
    },
  },
  {
    name: 'diagnostic power mode information request',
    source: '[pydoip] diagnostic_power_mode_request',
    hex: hex('02 FD', '40 03' /* type 0x4003 */, '00 00 00 00'),
    message: { type: 'powerModeRequest', protocolVersion: 2 },
  },
  {
    name: 'diagnostic power mode information response, ready',
    source: '[pydoip] diagnostic_power_mode_response',
    hex: hex('02 FD', '40 04' /* type 0x4004 */, '00 00 00 01', '01' /* power mode 0x01 ready */),
    message: { type: 'powerModeResponse', protocolVersion: 2, powerMode: 0x01 },
  },
  {
    name: 'diagnostic message (tester request)',
    source: '[pydoip] diagnostic_request',
    hex: hex(
      '02 FD',
      '80 01', //        type 0x8001 diagnostic message
      '00 00 00 07', //  payload length 7
      '0E 00', //        source address 0x0E00 (tester)
      '00 01', //        target address 0x0001
      '00 01 02', //     user data (UDS bytes)
    ),
    message: {
      type: 'diagnosticMessage',
      protocolVersion: 2,
      sourceAddress: 0x0e00,
      targetAddress: 0x0001,
      userData: bytes(0x00, 0x01, 0x02),
    },
  },
  {
    name: 'diagnostic message (ECU response)',
    source: '[pydoip] diagnostic_result',
    hex: hex('02 FD', '80 01', '00 00 00 08', '00 E0' /* source */, '00 55' /* target */, '00 01 02 03'),
    message: {
      type: 'diagnosticMessage',
      protocolVersion: 2,
      sourceAddress: 0x00e0,
      targetAddress: 0x0055,
      userData: bytes(0x00, 0x01, 0x02, 0x03),
    },
  },
  {
    name: 'diagnostic message ReadDataByIdentifier VIN to the engine ECU',
    source: '[table] Table 21; UDS 22 F1 90 (ISO 14229-1 ReadDataByIdentifier, DID 0xF190 VIN)',
    hex: hex('02 FD', '80 01', '00 00 00 07', '0E 00' /* tester */, '00 10' /* engine */, '22 F1 90' /* UDS */),
    message: {
      type: 'diagnosticMessage',
      protocolVersion: 2,
      sourceAddress: 0x0e00,
      targetAddress: 0x0010,
      userData: bytes(0x22, 0xf1, 0x90),
    },
  },
  {
    name: 'diagnostic message positive acknowledge',
    source: '[pydoip] diagnostic_positive_response',
    hex: hex('02 FD', '80 02' /* type 0x8002 */, '00 00 00 05', '00 00' /* source */, '00 00' /* target */, '00' /* ACK */),
    message: { type: 'diagnosticAck', protocolVersion: 2, sourceAddress: 0, targetAddress: 0, ackCode: 0x00 },
  },
  {
    name: 'diagnostic message positive acknowledge with previous message data',
    source: '[table] Table 23: the ACK may echo the acknowledged diagnostic message',
    hex: hex('02 FD', '80 02', '00 00 00 08', '00 10' /* engine */, '0E 00' /* tester */, '00', '22 F1 90' /* echo */),
    message: {
      type: 'diagnosticAck',
      protocolVersion: 2,
      sourceAddress: 0x0010,
      targetAddress: 0x0e00,
      ackCode: 0x00,
      previousData: bytes(0x22, 0xf1, 0x90),
    },
  },
  {
    name: 'diagnostic message negative acknowledge, out of memory',
    source: '[pydoip] diagnostic_negative_response',
    hex: hex('02 FD', '80 03' /* type 0x8003 */, '00 00 00 05', '00 00', '00 00', '05' /* NACK 0x05 out of memory */),
    message: { type: 'diagnosticNack', protocolVersion: 2, sourceAddress: 0, targetAddress: 0, nackCode: 0x05 },
  },
  {
    name: 'diagnostic message negative acknowledge, unknown target, with previous data',
    source: '[table] Table 25/26: NACK 0x03 unknown target address',
    hex: hex('02 FD', '80 03', '00 00 00 07', '00 12' /* source */, '0E 00' /* tester */, '03', '10 03' /* echo */),
    message: {
      type: 'diagnosticNack',
      protocolVersion: 2,
      sourceAddress: 0x0012,
      targetAddress: 0x0e00,
      nackCode: 0x03,
      previousData: bytes(0x10, 0x03),
    },
  },
  {
    name: 'routing activation request with a non-zero ISO reserved field, ISO 13400-2:2019 header',
    source: '[table] Table 46 (reserved kept as received so the round trip is exact)',
    hex: hex('03 FC' /* version 0x03 */, '00 05', '00 00 00 07', '0E 80', 'E0' /* central security */, '00 00 00 2A'),
    message: {
      type: 'routingActivationRequest',
      protocolVersion: 3,
      sourceAddress: 0x0e80,
      activationType: 0xe0,
      reserved: 0x2a,
    },
  },
];
