/**
 * The OTA-SC/1 secure channel between manager and vehicle gateway (ARCHITECTURE §2.2), as an explicit
 * state machine over byte strings (each MQTT payload is one handshake message or one record):
 *
 *   initiator (client): start ─start()→ awaitServerHello ─ServerHello→ established (replies Finished)
 *   responder (server): start ─ClientHello→ awaitFinished (replies ServerHello) ─Finished→ established
 *   any state ─close()→ closed
 *
 * By default the vehicle gateway initiates (on connect, and whenever it needs a new session); the manager
 * responds. Every refusal is an OtaError with a stable code (SC_* or a PKI_* code passed through from
 * verifyCertificate), is counted in `stats.refused`, and changes no state: a forged or garbled message
 * is dropped and the genuine one can still follow.
 */
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes, type ECDH, type KeyObject } from 'node:crypto';
import { isOtaError } from '../../protocol/errors.js';
import { PkiError, verifyCertificate, type Role, type TrustStore, type VerifiedIdentity } from '../pki/index.js';
import { DEFAULT_SUITES, LIMITS, REKEY_AFTER_BLOCKS, SUITE_IDS, suiteById, type SuiteName } from './constants.js';
import { refuse } from './errors.js';
import {
  FINISHED_SIGNED_PART,
  SERVER_HELLO_TRAILER,
  decodeHandshake,
  encodeHandshake,
  type ClientHello,
  type Finished,
  type ServerHello,
} from './handshake-codec.js';
import { deriveHandshakeSecrets, sessionIdFrom, type HandshakeSecrets } from './keys.js';
import { blocksFor, decodeRecordHeader } from './record.js';
import { ReceiveDirection, SendDirection } from './traffic.js';
import { checkFinishedMac, ephemeralKey, finishedMac, sharedSecret, signTranscript, transcriptHash, verifyTranscript } from './transcript.js';

export type ChannelState = 'start' | 'awaitServerHello' | 'awaitFinished' | 'established' | 'closed';

export interface ChannelOptions {
  /** Our own role; our certificate must be issued for it. */
  role: 'manager' | 'vehicle';
  certPem: string;
  /** PKCS#8 PEM of the ECDSA P-256 key of `certPem`. */
  keyPem: string;
  trust: TrustStore;
  /** Who the peer must be: a manager (any CN unless given: one name or a list) or vehicle `cn`. */
  expectPeer: { role: Role; cn?: string | readonly string[] };
  /** Whether this side sends the ClientHello; default: the vehicle initiates. */
  initiator?: boolean;
  /** Suites we accept, most preferred first (default aes-256-gcm, 3des-cbc-hmac-sha256). */
  suites?: readonly SuiteName[];
  /** Clock for certificate validity (default: the system clock). */
  now?: () => Date;
  /** Random source for nonces, ephemeral scalars and 3DES IVs (default: node:crypto randomBytes). */
  rng?: (n: number) => Uint8Array;
  /** Replay window in records (default 64). */
  replayWindow?: number;
  /** Blocks per key generation before rekey (default per suite: 2^20 for 3DES, 2^34 for GCM). */
  rekeyAfterBlocks?: number;
  /** Largest plaintext per record (default and maximum 64 KiB). */
  maxPlaintext?: number;
}

export interface ChannelStats {
  handshakeMessages: number;
  recordsSealed: number;
  recordsOpened: number;
  bytesSealed: number;
  bytesOpened: number;
  sendEpoch: number;
  receiveEpoch: number;
  /** Next sequence number this side will send. */
  sendSeq: number;
  /** Highest sequence number accepted from the peer (−1 before the first record). */
  receiveHighestSeq: number;
  /** Refusals by code (SC_* and PKI_*). */
  refused: Record<string, number>;
}

/** What `handle` returns: the message to send back, if any, and whether the channel is now established. */
export interface HandleResult {
  reply?: Uint8Array;
  established: boolean;
}

/** The handshake message each state waits for (the initiator's `start` state waits for start()). */
const EXPECTED: Record<ChannelState, 'clientHello' | 'serverHello' | 'finished' | undefined> = {
  start: 'clientHello',
  awaitServerHello: 'serverHello',
  awaitFinished: 'finished',
  established: undefined,
  closed: undefined,
};

interface Pending {
  ch: Uint8Array;
  sh?: Uint8Array;
  ecdh?: ECDH;
  suite?: SuiteName;
  secrets?: HandshakeSecrets;
  peer?: VerifiedIdentity;
  helloHash?: Uint8Array;
}

/** One end of a secure channel. Create one per session attempt; a new ClientHello needs a new channel. */
export class SecureChannel {
  readonly role: 'manager' | 'vehicle';
  readonly initiator: boolean;
  readonly stats: ChannelStats = {
    handshakeMessages: 0,
    recordsSealed: 0,
    recordsOpened: 0,
    bytesSealed: 0,
    bytesOpened: 0,
    sendEpoch: 0,
    receiveEpoch: 0,
    sendSeq: 0,
    receiveHighestSeq: -1,
    refused: {},
  };
  private current: ChannelState = 'start';
  private negotiated: SuiteName | undefined;
  private verifiedPeer: VerifiedIdentity | undefined;
  private sid: Uint8Array | undefined;
  private pending: Pending | undefined;
  private send: SendDirection | undefined;
  private receive: ReceiveDirection | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly certDer: Uint8Array;
  private readonly key: KeyObject;
  private readonly suites: readonly SuiteName[];
  private readonly maxPlaintext: number;
  private readonly windowSize: number;

  constructor(private readonly opts: ChannelOptions) {
    this.role = opts.role;
    this.initiator = opts.initiator ?? opts.role === 'vehicle';
    this.suites = opts.suites ?? DEFAULT_SUITES;
    if (this.suites.length === 0 || this.suites.length > LIMITS.maxOfferedSuites || new Set(this.suites).size !== this.suites.length) {
      throw new RangeError('suites must list 1..8 distinct suites');
    }
    for (const s of this.suites) if (!(s in SUITE_IDS)) throw new RangeError(`unknown suite ${String(s)}`);
    this.maxPlaintext = opts.maxPlaintext ?? LIMITS.maxPlaintext;
    if (!Number.isInteger(this.maxPlaintext) || this.maxPlaintext < 0 || this.maxPlaintext > LIMITS.maxPlaintext) {
      throw new RangeError('maxPlaintext must be 0..65536');
    }
    this.windowSize = opts.replayWindow ?? LIMITS.defaultReplayWindow;
    if (!Number.isInteger(this.windowSize) || this.windowSize < 1 || this.windowSize > LIMITS.maxReplayWindow) {
      throw new RangeError('replayWindow must be 1..4096');
    }
    if (opts.rekeyAfterBlocks !== undefined) {
      // A fresh key must hold at least one largest record, or the sender could never make progress.
      const need = Math.max(...this.suites.map((s) => blocksFor(s, this.maxPlaintext)));
      if (!Number.isSafeInteger(opts.rekeyAfterBlocks) || opts.rekeyAfterBlocks < need) {
        throw new RangeError(`rekeyAfterBlocks must be at least ${need} for records of ${this.maxPlaintext} bytes`);
      }
    }
    const cert = new X509Certificate(opts.certPem);
    this.key = createPrivateKey(opts.keyPem);
    const spki = (k: KeyObject): Buffer => k.export({ type: 'spki', format: 'der' });
    if (this.key.asymmetricKeyDetails?.namedCurve !== 'prime256v1' || !spki(createPublicKey(this.key)).equals(spki(cert.publicKey))) {
      throw refuse('SC_KEY_MISMATCH', 'keyPem is not the ECDSA P-256 key of certPem');
    }
    this.certDer = Uint8Array.from(cert.raw);
  }

  get state(): ChannelState {
    return this.current;
  }
  /** The negotiated suite, once known. */
  get suite(): SuiteName | undefined {
    return this.negotiated;
  }
  /** The peer's verified identity, once the handshake is established. */
  get peer(): VerifiedIdentity | undefined {
    return this.verifiedPeer;
  }
  /** The 8-byte session id (from the hello transcript), once established. */
  get sessionId(): Uint8Array | undefined {
    return this.sid;
  }
  /**
   * The session id this channel has, or (responder between ServerHello and Finished) will have once the
   * Finished arrives. Derived from the public hellos: a hint for routing, never an authentication.
   */
  get expectedSessionId(): Uint8Array | undefined {
    if (this.sid) return this.sid;
    return this.pending?.helloHash ? sessionIdFrom(this.pending.helloHash) : undefined;
  }

  private rng(n: number): Uint8Array {
    return this.opts.rng ? this.opts.rng(n) : randomBytes(n);
  }

  private countRefusal(e: unknown): void {
    const code = isOtaError(e) ? e.code : 'UNEXPECTED';
    this.stats.refused[code] = (this.stats.refused[code] ?? 0) + 1;
  }

  private count<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      this.countRefusal(e);
      throw e;
    }
  }

  /** Initiator only: the ClientHello to send. State start → awaitServerHello. */
  start(): Promise<Uint8Array> {
    return Promise.resolve().then(() =>
      this.count(() => {
        if (!this.initiator || this.current !== 'start') throw refuse('SC_UNEXPECTED_MESSAGE', `start() in state ${this.current}`);
        const ecdh = ephemeralKey(this.opts.rng);
        const ch = encodeHandshake({
          type: 'clientHello',
          random: this.rng(32),
          suites: this.suites.map((s) => SUITE_IDS[s]),
          keyShare: ecdh.getPublicKey(),
          certificate: this.certDer,
        });
        this.pending = { ch, ecdh };
        this.current = 'awaitServerHello';
        return ch;
      }),
    );
  }

  /** Feed one handshake message; resolves with the reply to send, if any. Calls are serialized. */
  handle(message: Uint8Array): Promise<HandleResult> {
    const run = this.queue.then(async () => {
      try {
        return await this.step(message);
      } catch (e) {
        this.countRefusal(e);
        throw e;
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async step(input: Uint8Array): Promise<HandleResult> {
    if (this.current === 'closed') throw refuse('SC_CLOSED', 'the channel is closed');
    const message = Uint8Array.from(input); // the transcript must not change if the caller reuses its buffer
    const msg = decodeHandshake(message);
    const expected = EXPECTED[this.current];
    if (this.current === 'start' && this.initiator) throw refuse('SC_UNEXPECTED_MESSAGE', 'the initiator must start() first');
    if (msg.type !== expected) throw refuse('SC_UNEXPECTED_MESSAGE', `${msg.type} in state ${this.current}`);
    let result: HandleResult;
    if (msg.type === 'clientHello') result = await this.onClientHello(message, msg);
    else if (msg.type === 'serverHello') result = await this.onServerHello(message, msg);
    else result = this.onFinished(message, msg);
    this.stats.handshakeMessages++;
    return result;
  }

  private async verifyPeer(cert: Uint8Array): Promise<VerifiedIdentity> {
    const { role, cn } = this.opts.expectPeer;
    const now = this.opts.now?.() ?? new Date();
    if (typeof cn !== 'object') return verifyCertificate(cert, this.opts.trust, { role, ...(cn === undefined ? {} : { cn }), now });
    // A pinned list (the gateway's configured manager identities): the CN must be one of them.
    const peer = await verifyCertificate(cert, this.opts.trust, { role, now });
    if (!cn.includes(peer.cn)) throw new PkiError('PKI_WRONG_CN', `certificate is for '${peer.cn}', not one of the pinned ${role} identities`);
    return peer;
  }

  /** Responder: negotiate, check the client's certificate, answer with a signed ServerHello. */
  private async onClientHello(ch: Uint8Array, msg: ClientHello): Promise<HandleResult> {
    // The responder's preference wins among the suites the initiator offered.
    const suite = this.suites.find((s) => msg.suites.includes(SUITE_IDS[s]));
    if (!suite) throw refuse('SC_NO_COMMON_SUITE', 'no offered suite is acceptable');
    const peer = await this.verifyPeer(msg.certificate);
    const ecdh = ephemeralKey(this.opts.rng);
    const ss = sharedSecret(ecdh, msg.keyShare);
    const body = encodeHandshake({
      type: 'serverHello',
      random: this.rng(32),
      suite: SUITE_IDS[suite],
      keyShare: ecdh.getPublicKey(),
      certificate: this.certDer,
      signature: new Uint8Array(64),
      mac: new Uint8Array(32),
    }).subarray(0, -SERVER_HELLO_TRAILER);
    const helloHash = transcriptHash(ch, body);
    const secrets = deriveHandshakeSecrets(ss, helloHash);
    const signature = signTranscript(this.key, 'server', helloHash);
    const mac = finishedMac(secrets.serverFinishedKey, transcriptHash(ch, body, signature));
    const sh = Uint8Array.from(Buffer.concat([body, signature, mac]));
    this.pending = { ch, sh, suite, secrets, peer, helloHash };
    this.negotiated = suite;
    this.current = 'awaitFinished';
    return { reply: sh, established: false };
  }

  /** Initiator: check the server's certificate, signature and MAC; answer with Finished. */
  private async onServerHello(sh: Uint8Array, msg: ServerHello): Promise<HandleResult> {
    const p = this.pending;
    if (!p?.ecdh) throw refuse('SC_UNEXPECTED_MESSAGE', 'no ClientHello outstanding');
    const suite = suiteById(msg.suite);
    if (!suite || !this.suites.includes(suite)) throw refuse('SC_WRONG_SUITE', `server chose suite 0x${msg.suite.toString(16)}, not offered`);
    const peer = await this.verifyPeer(msg.certificate);
    const ss = sharedSecret(p.ecdh, msg.keyShare);
    const body = sh.subarray(0, sh.length - SERVER_HELLO_TRAILER);
    const helloHash = transcriptHash(p.ch, body);
    verifyTranscript(peer.publicKey, 'server', helloHash, msg.signature);
    const secrets = deriveHandshakeSecrets(ss, helloHash);
    checkFinishedMac(secrets.serverFinishedKey, transcriptHash(p.ch, body, msg.signature), msg.mac);
    const signature = signTranscript(this.key, 'client', transcriptHash(p.ch, sh));
    const signedPart = Buffer.concat([Buffer.of(0x01, 0x03), signature]);
    const mac = finishedMac(secrets.clientFinishedKey, transcriptHash(p.ch, sh, signedPart));
    const cf = encodeHandshake({ type: 'finished', signature, mac });
    this.establish(suite, secrets, peer, helloHash);
    return { reply: cf, established: true };
  }

  /** Responder: check the client's signature and MAC; the channel is established. */
  private onFinished(cf: Uint8Array, msg: Finished): HandleResult {
    const p = this.pending;
    if (!p?.sh || !p.secrets || !p.peer || !p.suite || !p.helloHash) {
      throw refuse('SC_UNEXPECTED_MESSAGE', 'no ServerHello outstanding');
    }
    verifyTranscript(p.peer.publicKey, 'client', transcriptHash(p.ch, p.sh), msg.signature);
    checkFinishedMac(p.secrets.clientFinishedKey, transcriptHash(p.ch, p.sh, cf.subarray(0, FINISHED_SIGNED_PART)), msg.mac);
    this.establish(p.suite, p.secrets, p.peer, p.helloHash);
    return { established: true };
  }

  private establish(suite: SuiteName, secrets: HandshakeSecrets, peer: VerifiedIdentity, helloHash: Uint8Array): void {
    const limit = this.opts.rekeyAfterBlocks ?? REKEY_AFTER_BLOCKS[suite];
    const sid = sessionIdFrom(helloHash);
    const [mine, theirs] = this.initiator ? [secrets.c2sSecret, secrets.s2cSecret] : [secrets.s2cSecret, secrets.c2sSecret];
    const iv3des = this.opts.rng;
    this.send = new SendDirection(suite, Buffer.from(mine), sid, limit, LIMITS.maxSequence, iv3des);
    this.receive = new ReceiveDirection(suite, Buffer.from(theirs), limit, this.windowSize);
    secrets.c2sSecret.fill(0);
    secrets.s2cSecret.fill(0);
    secrets.clientFinishedKey.fill(0);
    secrets.serverFinishedKey.fill(0);
    this.negotiated = suite;
    this.verifiedPeer = peer;
    this.sid = sid;
    this.pending = undefined;
    this.current = 'established';
  }

  private ready(): { send: SendDirection; receive: ReceiveDirection } {
    if (this.current === 'closed') throw refuse('SC_CLOSED', 'the channel is closed');
    if (this.current !== 'established' || !this.send || !this.receive) {
      throw refuse('SC_NOT_ESTABLISHED', `no records before the handshake completes (state ${this.current})`);
    }
    return { send: this.send, receive: this.receive };
  }

  /** Protect one plaintext (≤ maxPlaintext bytes) as a record for the peer. */
  seal(plaintext: Uint8Array): Uint8Array {
    return this.count(() => {
      const { send } = this.ready();
      if (plaintext.length > this.maxPlaintext) throw refuse('SC_TOO_LARGE', `plaintext of ${plaintext.length} bytes exceeds ${this.maxPlaintext}`);
      const record = send.seal(plaintext);
      this.stats.recordsSealed++;
      this.stats.bytesSealed += plaintext.length;
      this.stats.sendEpoch = send.epoch;
      this.stats.sendSeq = send.nextSeq;
      return record;
    });
  }

  /** Authenticate and decrypt one record from the peer; a refused record changes no state. */
  open(record: Uint8Array): Uint8Array {
    return this.count(() => {
      const { receive } = this.ready();
      const header = decodeRecordHeader(record, this.maxPlaintext);
      if (Buffer.compare(header.sessionId, this.sid as Uint8Array) !== 0) throw refuse('SC_WRONG_SESSION', 'record of another session');
      if (header.suite !== this.negotiated) throw refuse('SC_WRONG_SUITE', `record suite ${header.suite} is not ${this.negotiated}`);
      const plaintext = receive.open(record, header);
      this.stats.recordsOpened++;
      this.stats.bytesOpened += plaintext.length;
      this.stats.receiveEpoch = receive.epoch;
      this.stats.receiveHighestSeq = receive.highestSeq;
      return plaintext;
    });
  }

  /** Erase keys and refuse everything from now on. */
  close(): void {
    this.send?.erase();
    this.receive?.erase();
    this.send = undefined;
    this.receive = undefined;
    this.pending = undefined;
    this.current = 'closed';
  }
}

/** Create one end of a secure channel (see SecureChannel). Throws SC_KEY_MISMATCH if key and certificate differ. */
export function createChannel(opts: ChannelOptions): SecureChannel {
  return new SecureChannel(opts);
}
