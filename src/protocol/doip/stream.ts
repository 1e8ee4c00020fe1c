/**
 * `DoipStreamReader`: a resumable state machine that cuts a TCP byte stream into DoIP messages. Feed it every
 * chunk the socket delivers; frames may be split anywhere (even byte by byte) or several may share a chunk.
 *
 * Memory stays bounded by the options: a payload buffer is only allocated after the generic header handler
 * accepted the header (length ≤ `maxPayloadLength`), a refused-but-discardable message (NACK 0x01/0x02/0x03) is
 * skipped as its bytes stream by without being stored, and a payload that lies whole inside one chunk is decoded
 * in place without a copy (its byte fields are then views into that chunk: do not overwrite a pushed chunk while
 * messages decoded from it are in use).
 */
import { DecodeError } from '../errors.js';
import { DOIP_HEADER_LENGTH, type DoipMessageType } from './constants.js';
import { decodeDoipPayload } from './codec.js';
import { DoipError } from './errors.js';
import { checkDoipHeader, readDoipHeader, type DoipDecodeOptions, type DoipHeader } from './header.js';
import type { DoipMessage } from './messages.js';

/** What one `push` produced, in stream order. */
export type DoipStreamEvent =
  | { readonly kind: 'message'; readonly message: DoipMessage }
  /**
   * A header the generic header handler refused: answer with a generic NACK of `error.wireCode`
   * (`doipNackFor(error)` builds it) and close the socket when `error.closeConnection` is true.
   */
  | { readonly kind: 'error'; readonly error: DoipError };

type State = 'header' | 'payload' | 'skip' | 'closed';

/** Resumable DoIP frame reader for one TCP connection (see the module comment). */
export class DoipStreamReader {
  readonly #options: DoipDecodeOptions;
  #state: State = 'header';
  readonly #headerBytes = new Uint8Array(DOIP_HEADER_LENGTH);
  #headerFill = 0;
  #header: DoipHeader | undefined;
  #type: DoipMessageType = 'genericNack';
  #payload: Uint8Array | undefined;
  #payloadFill = 0;
  #skipRemaining = 0;

  /** `options` are the generic header handler's limits (default max payload length 4100). */
  constructor(options: DoipDecodeOptions = {}) {
    this.#options = options;
  }

  /** True once a refusal required closing the connection; later pushes are ignored. */
  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** Bytes the reader holds for an unfinished frame (partial header plus the allocated payload buffer). */
  get bufferedBytes(): number {
    return this.#headerFill + (this.#payload?.length ?? 0);
  }

  /** Bytes of a refused message still to be discarded as they arrive. */
  get skipRemaining(): number {
    return this.#skipRemaining;
  }

  /** Feed the next chunk from the socket; returns the messages and refusals completed by it, in order. */
  push(chunk: Uint8Array): DoipStreamEvent[] {
    const events: DoipStreamEvent[] = [];
    let pos = 0;
    while (pos < chunk.length && this.#state !== 'closed') {
      if (this.#state === 'header') pos = this.#readHeader(chunk, pos, events);
      else if (this.#state === 'payload') pos = this.#readPayload(chunk, pos, events);
      else pos = this.#skip(chunk, pos);
    }
    return events;
  }

  /** Call when the peer ends the stream: throws `DOIP_TRUNCATED` if a frame was cut off. */
  end(): void {
    if (this.#state === 'closed') return;
    if (this.#state !== 'header' || this.#headerFill > 0) {
      const missing =
        this.#state === 'header'
          ? DOIP_HEADER_LENGTH - this.#headerFill
          : this.#state === 'skip'
            ? this.#skipRemaining
            : (this.#payload?.length ?? 0) - this.#payloadFill;
      throw new DecodeError('DOIP_TRUNCATED', `stream ended ${missing} bytes before the end of a DoIP frame`);
    }
  }

  #readHeader(chunk: Uint8Array, pos: number, events: DoipStreamEvent[]): number {
    let header: DoipHeader;
    if (this.#headerFill === 0 && chunk.length - pos >= DOIP_HEADER_LENGTH) {
      header = readDoipHeader(chunk, pos); // whole header in this chunk: read it in place
      pos += DOIP_HEADER_LENGTH;
    } else {
      const n = Math.min(DOIP_HEADER_LENGTH - this.#headerFill, chunk.length - pos);
      this.#headerBytes.set(chunk.subarray(pos, pos + n), this.#headerFill);
      this.#headerFill += n;
      pos += n;
      if (this.#headerFill < DOIP_HEADER_LENGTH) return pos;
      this.#headerFill = 0;
      header = readDoipHeader(this.#headerBytes);
    }
    this.#onHeader(header, events);
    return pos;
  }

  #onHeader(header: DoipHeader, events: DoipStreamEvent[]): void {
    try {
      this.#type = checkDoipHeader(header, this.#options);
    } catch (error) {
      if (!(error instanceof DoipError)) throw error;
      events.push({ kind: 'error', error });
      if (error.closeConnection) {
        this.#state = 'closed';
      } else {
        // [DoIP-042]–[DoIP-044]: the message is discarded; skip its payload without storing it.
        this.#skipRemaining = header.payloadLength;
        this.#state = header.payloadLength > 0 ? 'skip' : 'header';
      }
      return;
    }
    this.#header = header;
    this.#payloadFill = 0;
    if (header.payloadLength === 0) this.#emit(new Uint8Array(0), events);
    else this.#state = 'payload';
  }

  #readPayload(chunk: Uint8Array, pos: number, events: DoipStreamEvent[]): number {
    const length = (this.#header as DoipHeader).payloadLength;
    const available = chunk.length - pos;
    if (this.#payload === undefined && available >= length) {
      this.#emit(chunk.subarray(pos, pos + length), events); // whole payload in this chunk: decode in place
      return pos + length;
    }
    // Allocation is bounded: the header handler already refused lengths above maxPayloadLength.
    const payload = (this.#payload ??= new Uint8Array(length));
    const n = Math.min(length - this.#payloadFill, available);
    payload.set(chunk.subarray(pos, pos + n), this.#payloadFill);
    this.#payloadFill += n;
    if (this.#payloadFill === length) {
      this.#payload = undefined;
      this.#emit(payload, events);
    }
    return pos + n;
  }

  #skip(chunk: Uint8Array, pos: number): number {
    const n = Math.min(this.#skipRemaining, chunk.length - pos);
    this.#skipRemaining -= n;
    if (this.#skipRemaining === 0) this.#state = 'header';
    return pos + n;
  }

  #emit(payload: Uint8Array, events: DoipStreamEvent[]): void {
    const header = this.#header as DoipHeader;
    this.#state = 'header';
    this.#header = undefined;
    events.push({ kind: 'message', message: decodeDoipPayload(this.#type, header.protocolVersion, payload) });
  }
}
