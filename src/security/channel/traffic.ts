/**
 * Per-direction traffic state of an established channel: key generations (rekey), sequence numbers, the
 * replay window and the block budget per key (ARCHITECTURE §2.2: rekey before 2^20 blocks under one key).
 *
 * Rekey rule (channel-records.md §5): the sender counts the blocks each record spends under the current
 * key; when the next record would push the count above the limit it moves to generation g+1
 * (secret_{g+1} = HKDF(secret_g, "ota-sc/1 traffic update")) and sends that record with epoch byte
 * (g+1) mod 256. Sequence numbers continue across generations. The receiver accepts the epochs g−1, g and
 * g+1 only; the first authenticated record of g+1 makes it current (g becomes previous, g−1 is erased).
 */
import { type SuiteName } from './constants.js';
import { refuse } from './errors.js';
import { deriveRecordKeys, nextTrafficSecret, type RecordKeys } from './keys.js';
import { blocksFor, openRecordBody, sealRecord, type RecordHeader } from './record.js';
import { ReplayWindow } from './window.js';

interface Generation {
  readonly epoch: number;
  readonly secret: Buffer;
  readonly keys: RecordKeys;
  blocks: number;
}

function generation(suite: SuiteName, epoch: number, secret: Buffer): Generation {
  return { epoch, secret, keys: deriveRecordKeys(suite, secret), blocks: 0 };
}

function erase(g: Generation | undefined): void {
  if (!g) return;
  g.secret.fill(0);
  if (g.keys.suite === 'aes-256-gcm') {
    g.keys.key.fill(0);
    g.keys.iv.fill(0);
  } else {
    g.keys.encKey.fill(0);
    g.keys.macKey.fill(0);
  }
}

/** Sending half: sequence numbers and the block budget. */
export class SendDirection {
  private gen: Generation;
  private seq = 0;

  constructor(
    private readonly suite: SuiteName,
    secret: Buffer,
    private readonly sessionId: Uint8Array,
    private readonly limit: number,
    private readonly maxSequence: number,
    private readonly rng: ((n: number) => Uint8Array) | undefined,
  ) {
    this.gen = generation(suite, 0, secret);
  }

  get epoch(): number {
    return this.gen.epoch;
  }

  get nextSeq(): number {
    return this.seq;
  }

  seal(plaintext: Uint8Array): Buffer {
    if (this.seq > this.maxSequence) throw refuse('SC_SEQ_EXHAUSTED', 'sequence numbers exhausted: start a new session');
    const blocks = blocksFor(this.suite, plaintext.length);
    if (this.gen.blocks + blocks > this.limit) this.rekey();
    const iv = this.suite === '3des-cbc-hmac-sha256' && this.rng ? this.rng(8) : undefined;
    const record = sealRecord(this.gen.keys, { sessionId: this.sessionId, epoch: this.gen.epoch, seq: this.seq }, plaintext, iv);
    this.gen.blocks += blocks;
    this.seq++;
    return record;
  }

  private rekey(): void {
    const old = this.gen;
    this.gen = generation(this.suite, old.epoch + 1, nextTrafficSecret(old.secret));
    erase(old);
  }

  erase(): void {
    erase(this.gen);
  }
}

/** Receiving half: epochs, the replay window and the per-key block budget. */
export class ReceiveDirection {
  private current: Generation;
  private previous: Generation | undefined;
  private next: Generation | undefined;
  private readonly window: ReplayWindow;

  constructor(
    private readonly suite: SuiteName,
    secret: Buffer,
    private readonly limit: number,
    windowSize: number,
  ) {
    this.current = generation(suite, 0, secret);
    this.window = new ReplayWindow(windowSize);
  }

  get epoch(): number {
    return this.current.epoch;
  }

  get highestSeq(): number {
    return this.window.top;
  }

  /** Checks everything, decrypts, and only then commits window, budget and epoch. */
  open(record: Uint8Array, header: RecordHeader): Buffer {
    const gen = this.generationFor(header.epoch);
    this.window.check(header.seq);
    const blocks = this.suite === 'aes-256-gcm' ? blocksFor(this.suite, header.length - 16) : (header.length - 40) / 8;
    if (gen.blocks + blocks > this.limit) {
      throw refuse('SC_KEY_EXHAUSTED', `epoch ${gen.epoch} would exceed ${this.limit} blocks: the sender did not rekey`);
    }
    const plaintext = openRecordBody(gen.keys, record, header);
    this.window.accept(header.seq);
    gen.blocks += blocks;
    if (gen === this.next) this.promote();
    return plaintext;
  }

  private generationFor(epochByte: number): Generation {
    if (epochByte === (this.current.epoch & 0xff)) return this.current;
    if (this.previous && epochByte === (this.previous.epoch & 0xff)) return this.previous;
    if (epochByte === ((this.current.epoch + 1) & 0xff)) {
      // Deterministic from the current secret, so caching it is not a state change.
      this.next ??= generation(this.suite, this.current.epoch + 1, nextTrafficSecret(this.current.secret));
      return this.next;
    }
    throw refuse('SC_BAD_EPOCH', `key epoch ${epochByte} is neither ${this.current.epoch & 0xff} nor adjacent to it`);
  }

  private promote(): void {
    erase(this.previous);
    this.previous = this.current;
    this.current = this.next as Generation;
    this.next = undefined;
  }

  erase(): void {
    erase(this.previous);
    erase(this.current);
    erase(this.next);
  }
}
