/**
 * Pure codecs of the three OTA-SC/1 handshake messages (byte layout: docs/test-vectors/channel-handshake.md).
 *
 *   ClientHello = 01 01 ‖ random[32] ‖ n[1] ‖ suite ids[n] ‖ key share[65] ‖ cert len[2] ‖ cert DER
 *   ServerHello = 01 02 ‖ random[32] ‖ suite id[1] ‖ key share[65] ‖ cert len[2] ‖ cert DER ‖ signature[64] ‖ mac[32]
 *   Finished    = 01 03 ‖ signature[64] ‖ mac[32]
 *
 * Integers are big-endian; key shares are uncompressed SEC1 P-256 points; signatures are ECDSA P-256 /
 * SHA-256 as r ‖ s (IEEE P1363); certificates are X.509 DER.
 */
import { LIMITS, MessageType, PROTOCOL_VERSION, SIZES } from './constants.js';
import { decodeFail } from './errors.js';

export interface ClientHello {
  readonly type: 'clientHello';
  readonly random: Uint8Array;
  /** Offered suite ids in preference order (unknown ids are carried, and ignored by negotiation). */
  readonly suites: readonly number[];
  readonly keyShare: Uint8Array;
  readonly certificate: Uint8Array;
}

export interface ServerHello {
  readonly type: 'serverHello';
  readonly random: Uint8Array;
  readonly suite: number;
  readonly keyShare: Uint8Array;
  readonly certificate: Uint8Array;
  readonly signature: Uint8Array;
  readonly mac: Uint8Array;
}

export interface Finished {
  readonly type: 'finished';
  readonly signature: Uint8Array;
  readonly mac: Uint8Array;
}

export type HandshakeMessage = ClientHello | ServerHello | Finished;

/** Bytes of the ServerHello after its body (signature ‖ mac); the body is what the server signs over. */
export const SERVER_HELLO_TRAILER = SIZES.signature + SIZES.finishedMac;
/** Bytes of the Finished before its MAC (header ‖ signature). */
export const FINISHED_SIGNED_PART = 2 + SIZES.signature;
/** Largest handshake message (a ServerHello with the largest certificate). */
export const MAX_HANDSHAKE_BYTES = 2 + SIZES.random + 1 + SIZES.keyShare + 2 + LIMITS.maxCertificateBytes + SERVER_HELLO_TRAILER;

class Reader {
  private at = 2;
  constructor(private readonly bytes: Uint8Array) {}
  take(n: number, what: string): Uint8Array {
    if (this.at + n > this.bytes.length) throw decodeFail('SC_TRUNCATED', `handshake message ends inside ${what}`);
    const out = this.bytes.slice(this.at, this.at + n);
    this.at += n;
    return out;
  }
  u8(what: string): number {
    return this.take(1, what)[0] as number;
  }
  u16(what: string): number {
    const b = this.take(2, what);
    return ((b[0] as number) << 8) | (b[1] as number);
  }
  end(): void {
    if (this.at !== this.bytes.length) throw decodeFail('SC_MALFORMED', `${this.bytes.length - this.at} trailing bytes after the handshake message`);
  }
}

function keyShare(r: Reader): Uint8Array {
  const k = r.take(SIZES.keyShare, 'the key share');
  // SEC1 §2.3.3: only the uncompressed form 0x04 ‖ X ‖ Y is allowed here.
  if (k[0] !== 0x04) throw decodeFail('SC_BAD_KEY_SHARE', 'key share is not an uncompressed P-256 point');
  return k;
}

function certificate(r: Reader): Uint8Array {
  const len = r.u16('the certificate length');
  if (len === 0) throw decodeFail('SC_MALFORMED', 'empty certificate');
  if (len > LIMITS.maxCertificateBytes) throw decodeFail('SC_TOO_LARGE', `certificate of ${len} bytes exceeds ${LIMITS.maxCertificateBytes}`);
  return r.take(len, 'the certificate');
}

/** Decode one handshake message; any defect is a DecodeError with an SC_* code. */
export function decodeHandshake(bytes: Uint8Array): HandshakeMessage {
  if (bytes.length < 2) throw decodeFail('SC_TRUNCATED', 'handshake message shorter than its 2-byte header');
  if (bytes[0] !== PROTOCOL_VERSION) throw decodeFail('SC_BAD_VERSION', `version 0x${bytes[0]?.toString(16)} is not 0x01`);
  if (bytes.length > MAX_HANDSHAKE_BYTES) throw decodeFail('SC_TOO_LARGE', `handshake message of ${bytes.length} bytes`);
  const r = new Reader(bytes);
  switch (bytes[1]) {
    case MessageType.clientHello: {
      const random = r.take(SIZES.random, 'the random');
      const n = r.u8('the suite count');
      if (n === 0 || n > LIMITS.maxOfferedSuites) throw decodeFail('SC_MALFORMED', `suite count ${n} outside 1..${LIMITS.maxOfferedSuites}`);
      const suites = Array.from(r.take(n, 'the suite list'));
      if (new Set(suites).size !== n) throw decodeFail('SC_MALFORMED', 'a suite is offered twice');
      const msg: ClientHello = { type: 'clientHello', random, suites, keyShare: keyShare(r), certificate: certificate(r) };
      r.end();
      return msg;
    }
    case MessageType.serverHello: {
      const random = r.take(SIZES.random, 'the random');
      const suite = r.u8('the suite');
      const share = keyShare(r);
      const cert = certificate(r);
      const msg: ServerHello = {
        type: 'serverHello',
        random,
        suite,
        keyShare: share,
        certificate: cert,
        signature: r.take(SIZES.signature, 'the signature'),
        mac: r.take(SIZES.finishedMac, 'the MAC'),
      };
      r.end();
      return msg;
    }
    case MessageType.finished: {
      const msg: Finished = { type: 'finished', signature: r.take(SIZES.signature, 'the signature'), mac: r.take(SIZES.finishedMac, 'the MAC') };
      r.end();
      return msg;
    }
    case MessageType.record:
      throw decodeFail('SC_UNEXPECTED_MESSAGE', 'a record where a handshake message was expected');
    default:
      throw decodeFail('SC_MALFORMED', `unknown handshake message type 0x${bytes[1]?.toString(16)}`);
  }
}

function fixed(value: Uint8Array, size: number, what: string): Uint8Array {
  if (value.length !== size) throw decodeFail('SC_MALFORMED', `${what} must be ${size} bytes, not ${value.length}`);
  return value;
}

function certField(cert: Uint8Array): Uint8Array[] {
  if (cert.length === 0 || cert.length > LIMITS.maxCertificateBytes) throw decodeFail('SC_TOO_LARGE', `certificate of ${cert.length} bytes`);
  return [Uint8Array.of(cert.length >> 8, cert.length & 0xff), cert];
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/** Encode one handshake message (validates field sizes; throws DecodeError SC_MALFORMED/SC_TOO_LARGE). */
export function encodeHandshake(msg: HandshakeMessage): Uint8Array {
  switch (msg.type) {
    case 'clientHello': {
      const n = msg.suites.length;
      if (n === 0 || n > LIMITS.maxOfferedSuites || msg.suites.some((s) => !Number.isInteger(s) || s < 0 || s > 255)) {
        throw decodeFail('SC_MALFORMED', 'suite list must hold 1..8 byte values');
      }
      return concat([
        Uint8Array.of(PROTOCOL_VERSION, MessageType.clientHello),
        fixed(msg.random, SIZES.random, 'random'),
        Uint8Array.of(n, ...msg.suites),
        fixed(msg.keyShare, SIZES.keyShare, 'key share'),
        ...certField(msg.certificate),
      ]);
    }
    case 'serverHello':
      if (!Number.isInteger(msg.suite) || msg.suite < 0 || msg.suite > 255) throw decodeFail('SC_MALFORMED', 'suite id must be a byte');
      return concat([
        Uint8Array.of(PROTOCOL_VERSION, MessageType.serverHello),
        fixed(msg.random, SIZES.random, 'random'),
        Uint8Array.of(msg.suite),
        fixed(msg.keyShare, SIZES.keyShare, 'key share'),
        ...certField(msg.certificate),
        fixed(msg.signature, SIZES.signature, 'signature'),
        fixed(msg.mac, SIZES.finishedMac, 'MAC'),
      ]);
    case 'finished':
      return concat([
        Uint8Array.of(PROTOCOL_VERSION, MessageType.finished),
        fixed(msg.signature, SIZES.signature, 'signature'),
        fixed(msg.mac, SIZES.finishedMac, 'MAC'),
      ]);
  }
}
