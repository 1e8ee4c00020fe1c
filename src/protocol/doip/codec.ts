/**
 * DoIP message codec: `encodeDoipMessage` and `decodeDoipMessage` for exactly one whole message (a UDP datagram,
 * a trace line, or a frame cut out of a TCP stream by `DoipStreamReader`). One payload codec per payload type,
 * field order as in ISO 13400-2:2019 Tables 2–11, 18, 21–28, 46–49; all multi-byte fields big-endian.
 */
import { DecodeError } from '../errors.js';
import {
  DOIP_DEFAULT_PROTOCOL_VERSION,
  DOIP_HEADER_LENGTH,
  DOIP_PAYLOAD_TYPE,
  DOIP_PROTOCOL_VERSION,
  DOIP_SUPPORTED_PROTOCOL_VERSIONS,
  type DoipMessageType,
} from './constants.js';
import { checkDoipHeader, isAcceptedVersion, readDoipHeader, writeDoipHeader, type DoipDecodeOptions } from './header.js';
import type { DoipMessage, DoipMessageOf } from './messages.js';

const VIN_LENGTH = 17; // Table 1: ASCII VIN as in ISO 3779
const ID_LENGTH = 6; // EID and GID (Table 5)
const V2010 = DOIP_PROTOCOL_VERSION.iso13400_2_2010;

class Reader {
  readonly #data: Uint8Array;
  readonly #view: DataView;
  #pos = 0;
  constructor(data: Uint8Array) {
    this.#data = data;
    this.#view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }
  get remaining(): number {
    return this.#data.length - this.#pos;
  }
  u8(): number {
    return this.#view.getUint8(this.#pos++);
  }
  u16(): number {
    const v = this.#view.getUint16(this.#pos);
    this.#pos += 2;
    return v;
  }
  u32(): number {
    const v = this.#view.getUint32(this.#pos);
    this.#pos += 4;
    return v;
  }
  /** A view (no copy) of the next `n` bytes. */
  bytes(n: number): Uint8Array {
    const out = this.#data.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }
  latin1(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.u8());
    return s;
  }
}

class Writer {
  readonly #out: Uint8Array;
  readonly #view: DataView;
  #pos: number;
  constructor(out: Uint8Array, offset: number) {
    this.#out = out;
    this.#view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    this.#pos = offset;
  }
  u8(v: number): void {
    this.#view.setUint8(this.#pos++, v);
  }
  u16(v: number): void {
    this.#view.setUint16(this.#pos, v);
    this.#pos += 2;
  }
  u32(v: number): void {
    this.#view.setUint32(this.#pos, v);
    this.#pos += 4;
  }
  bytes(v: Uint8Array): void {
    this.#out.set(v, this.#pos);
    this.#pos += v.length;
  }
  latin1(s: string): void {
    for (let i = 0; i < s.length; i++) this.u8(s.charCodeAt(i));
  }
}

function rangeError(field: string, detail: string): DecodeError {
  return new DecodeError('DOIP_FIELD_RANGE', `DoIP field ${field}: ${detail}`);
}
function uint(field: string, value: unknown, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw rangeError(field, `${String(value)} is not an integer in 0..${max}`);
  }
}
const u8 = (field: string, value: unknown): void => uint(field, value, 0xff);
const u16 = (field: string, value: unknown): void => uint(field, value, 0xffff);
const u32 = (field: string, value: unknown): void => uint(field, value, 0xffffffff);
function fixedBytes(field: string, value: unknown, length: number): void {
  if (!(value instanceof Uint8Array) || value.length !== length) throw rangeError(field, `must be ${length} bytes`);
}
function anyBytes(field: string, value: unknown, min: number): number {
  if (!(value instanceof Uint8Array) || value.length < min) throw rangeError(field, `must be at least ${min} bytes`);
  return value.length;
}
function vin(field: string, value: unknown): void {
  // Table 1: 17 ASCII characters, or 17 bytes of 0x00/0xFF when not configured — one character per byte.
  if (typeof value !== 'string' || value.length !== VIN_LENGTH || [...value].some((c) => c.charCodeAt(0) > 0xff)) {
    throw rangeError(field, `must be ${VIN_LENGTH} characters of one byte each`);
  }
}

type Fields<M> = Omit<M, 'type' | 'protocolVersion'>;

interface PayloadCodec<M extends DoipMessage> {
  /** Check every field of `msg` and return its payload length. */
  measure(msg: M, version: number): number;
  write(w: Writer, msg: M, version: number): void;
  /** Read a payload whose length the header handler has already found valid. */
  read(r: Reader, version: number): Fields<M>;
}

const empty: PayloadCodec<DoipMessage> = { measure: () => 0, write: () => undefined, read: () => ({}) };

/** Optional trailing u32 pair of the routing activation messages: ISO reserved (zero), then VM-specific. */
function measureReservedTail(msg: { reserved?: number; oemSpecific?: number }): number {
  if (msg.reserved !== undefined) u32('reserved', msg.reserved);
  if (msg.oemSpecific !== undefined) u32('oemSpecific', msg.oemSpecific);
  return 4 + (msg.oemSpecific === undefined ? 0 : 4);
}
function writeReservedTail(w: Writer, msg: { reserved?: number; oemSpecific?: number }): void {
  w.u32(msg.reserved ?? 0);
  if (msg.oemSpecific !== undefined) w.u32(msg.oemSpecific);
}
function readReservedTail(r: Reader): { reserved?: number; oemSpecific?: number } {
  const tail: { reserved?: number; oemSpecific?: number } = {};
  const reserved = r.u32();
  if (reserved !== 0) tail.reserved = reserved;
  if (r.remaining === 4) tail.oemSpecific = r.u32();
  return tail;
}

type AckMessage = DoipMessageOf<'diagnosticAck'> | DoipMessageOf<'diagnosticNack'>;

/** Shared by 0x8002 and 0x8003: source, target, ACK/NACK code, optional previous diagnostic message data. */
function ackCodec(codeField: 'ackCode' | 'nackCode'): PayloadCodec<AckMessage> {
  const codeOf = (m: AckMessage): number => ('ackCode' in m ? m.ackCode : m.nackCode);
  return {
    measure(m) {
      u16('sourceAddress', m.sourceAddress);
      u16('targetAddress', m.targetAddress);
      u8(codeField, codeOf(m));
      return 5 + (m.previousData === undefined ? 0 : anyBytes('previousData', m.previousData, 0));
    },
    write(w, m) {
      w.u16(m.sourceAddress);
      w.u16(m.targetAddress);
      w.u8(codeOf(m));
      if (m.previousData !== undefined) w.bytes(m.previousData);
    },
    read(r) {
      const fields: Record<string, unknown> = { sourceAddress: r.u16(), targetAddress: r.u16(), [codeField]: r.u8() };
      if (r.remaining > 0) fields.previousData = r.bytes(r.remaining);
      return fields as unknown as Fields<AckMessage>;
    },
  };
}

const CODECS: { readonly [K in DoipMessageType]: PayloadCodec<DoipMessageOf<K>> } = {
  genericNack: {
    measure: (m) => (u8('nackCode', m.nackCode), 1),
    write: (w, m) => w.u8(m.nackCode),
    read: (r) => ({ nackCode: r.u8() }),
  },
  vehicleIdentificationRequest: empty,
  vehicleIdentificationRequestEid: {
    measure: (m) => (fixedBytes('eid', m.eid, ID_LENGTH), ID_LENGTH),
    write: (w, m) => w.bytes(m.eid),
    read: (r) => ({ eid: r.bytes(ID_LENGTH) }),
  },
  vehicleIdentificationRequestVin: {
    measure: (m) => (vin('vin', m.vin), VIN_LENGTH),
    write: (w, m) => w.latin1(m.vin),
    read: (r) => ({ vin: r.latin1(VIN_LENGTH) }),
  },
  vehicleAnnouncement: {
    measure(m) {
      vin('vin', m.vin);
      u16('logicalAddress', m.logicalAddress);
      fixedBytes('eid', m.eid, ID_LENGTH);
      fixedBytes('gid', m.gid, ID_LENGTH);
      u8('furtherAction', m.furtherAction);
      if (m.syncStatus !== undefined) u8('syncStatus', m.syncStatus);
      return 32 + (m.syncStatus === undefined ? 0 : 1);
    },
    write(w, m) {
      w.latin1(m.vin);
      w.u16(m.logicalAddress);
      w.bytes(m.eid);
      w.bytes(m.gid);
      w.u8(m.furtherAction);
      if (m.syncStatus !== undefined) w.u8(m.syncStatus);
    },
    read(r) {
      const fields = {
        vin: r.latin1(VIN_LENGTH),
        logicalAddress: r.u16(),
        eid: r.bytes(ID_LENGTH),
        gid: r.bytes(ID_LENGTH),
        furtherAction: r.u8(),
      };
      return r.remaining === 1 ? { ...fields, syncStatus: r.u8() } : fields;
    },
  },
  routingActivationRequest: {
    measure(m, version) {
      u16('sourceAddress', m.sourceAddress);
      uint('activationType', m.activationType, version === V2010 ? 0xffff : 0xff);
      return 2 + (version === V2010 ? 2 : 1) + measureReservedTail(m);
    },
    write(w, m, version) {
      w.u16(m.sourceAddress);
      if (version === V2010) w.u16(m.activationType);
      else w.u8(m.activationType);
      writeReservedTail(w, m);
    },
    read: (r, version) => ({
      sourceAddress: r.u16(),
      activationType: version === V2010 ? r.u16() : r.u8(),
      ...readReservedTail(r),
    }),
  },
  routingActivationResponse: {
    measure(m) {
      u16('testerAddress', m.testerAddress);
      u16('entityAddress', m.entityAddress);
      u8('responseCode', m.responseCode);
      return 5 + measureReservedTail(m);
    },
    write(w, m) {
      w.u16(m.testerAddress);
      w.u16(m.entityAddress);
      w.u8(m.responseCode);
      writeReservedTail(w, m);
    },
    read: (r) => ({ testerAddress: r.u16(), entityAddress: r.u16(), responseCode: r.u8(), ...readReservedTail(r) }),
  },
  aliveCheckRequest: empty,
  aliveCheckResponse: {
    measure: (m) => (u16('sourceAddress', m.sourceAddress), 2),
    write: (w, m) => w.u16(m.sourceAddress),
    read: (r) => ({ sourceAddress: r.u16() }),
  },
  entityStatusRequest: empty,
  entityStatusResponse: {
    measure(m) {
      u8('nodeType', m.nodeType);
      u8('maxOpenSockets', m.maxOpenSockets);
      u8('openSockets', m.openSockets);
      if (m.maxDataSize !== undefined) u32('maxDataSize', m.maxDataSize);
      return 3 + (m.maxDataSize === undefined ? 0 : 4);
    },
    write(w, m) {
      w.u8(m.nodeType);
      w.u8(m.maxOpenSockets);
      w.u8(m.openSockets);
      if (m.maxDataSize !== undefined) w.u32(m.maxDataSize);
    },
    read(r) {
      const fields = { nodeType: r.u8(), maxOpenSockets: r.u8(), openSockets: r.u8() };
      return r.remaining === 4 ? { ...fields, maxDataSize: r.u32() } : fields;
    },
  },
  powerModeRequest: empty,
  powerModeResponse: {
    measure: (m) => (u8('powerMode', m.powerMode), 1),
    write: (w, m) => w.u8(m.powerMode),
    read: (r) => ({ powerMode: r.u8() }),
  },
  diagnosticMessage: {
    measure(m) {
      u16('sourceAddress', m.sourceAddress);
      u16('targetAddress', m.targetAddress);
      return 4 + anyBytes('userData', m.userData, 1);
    },
    write(w, m) {
      w.u16(m.sourceAddress);
      w.u16(m.targetAddress);
      w.bytes(m.userData);
    },
    read: (r) => ({ sourceAddress: r.u16(), targetAddress: r.u16(), userData: r.bytes(r.remaining) }),
  },
  diagnosticAck: ackCodec('ackCode') as PayloadCodec<DoipMessageOf<'diagnosticAck'>>,
  diagnosticNack: ackCodec('nackCode') as PayloadCodec<DoipMessageOf<'diagnosticNack'>>,
};

/**
 * Encode one DoIP message, generic header included. The header's version is `msg.protocolVersion` (default 0x02).
 * Throws `DecodeError('DOIP_FIELD_RANGE')` for a value the wire cannot carry or our decoder would refuse.
 */
export function encodeDoipMessage(msg: DoipMessage): Uint8Array {
  const codec = CODECS[msg.type] as PayloadCodec<DoipMessage> | undefined;
  if (codec === undefined) throw rangeError('type', `unknown message type '${String(msg.type)}'`);
  const payloadType = DOIP_PAYLOAD_TYPE[msg.type];
  const version = msg.protocolVersion ?? DOIP_DEFAULT_PROTOCOL_VERSION;
  if (!isAcceptedVersion(version, payloadType, DOIP_SUPPORTED_PROTOCOL_VERSIONS)) {
    throw rangeError('protocolVersion', `version ${String(version)} cannot be sent with ${msg.type}`);
  }
  const payloadLength = codec.measure(msg, version);
  const out = new Uint8Array(DOIP_HEADER_LENGTH + payloadLength);
  writeDoipHeader(out, 0, version, payloadType, payloadLength);
  codec.write(new Writer(out, DOIP_HEADER_LENGTH), msg, version);
  return out;
}

/**
 * Decode the payload of a frame whose header `checkDoipHeader` accepted as `type`. Byte fields of the result are
 * views into `payload`.
 */
export function decodeDoipPayload(type: DoipMessageType, protocolVersion: number, payload: Uint8Array): DoipMessage {
  const codec = CODECS[type] as PayloadCodec<DoipMessage>;
  return { type, protocolVersion, ...codec.read(new Reader(payload), protocolVersion) } as DoipMessage;
}

/**
 * Decode exactly one whole DoIP message. Header refusals are `DoipError`s carrying the generic NACK code
 * (see `checkDoipHeader`); fewer bytes than announced → `DOIP_TRUNCATED`, more → `DOIP_TRAILING_BYTES`.
 */
export function decodeDoipMessage(bytes: Uint8Array, options: DoipDecodeOptions = {}): DoipMessage {
  const header = readDoipHeader(bytes);
  const type = checkDoipHeader(header, options);
  const end = DOIP_HEADER_LENGTH + header.payloadLength;
  if (bytes.length < end) {
    throw new DecodeError('DOIP_TRUNCATED', `header announces ${header.payloadLength} payload bytes, ${bytes.length - DOIP_HEADER_LENGTH} present`);
  }
  if (bytes.length > end) {
    throw new DecodeError('DOIP_TRAILING_BYTES', `${bytes.length - end} bytes after the ${header.payloadLength}-byte payload`);
  }
  return decodeDoipPayload(type, header.protocolVersion, bytes.subarray(DOIP_HEADER_LENGTH, end));
}
