import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeError } from '../../../src/protocol/errors.js';
import { parseHex } from '../../../src/protocol/hex.js';
import {
  DOIP_DEFAULT_MAX_PAYLOAD_LENGTH,
  DoipStreamReader,
  encodeDoipMessage,
  type DoipMessage,
  type DoipStreamEvent,
} from '../../../src/protocol/doip/index.js';

// A routing activation, a UDS request to the engine ECU, and an alive check: what a tester sends first.
const MESSAGES: DoipMessage[] = [
  { type: 'routingActivationRequest', protocolVersion: 2, sourceAddress: 0x0e00, activationType: 0x00 },
  { type: 'diagnosticMessage', protocolVersion: 2, sourceAddress: 0x0e00, targetAddress: 0x0010, userData: Uint8Array.of(0x22, 0xf1, 0x90) },
  { type: 'aliveCheckResponse', protocolVersion: 2, sourceAddress: 0x0e00 },
];
const STREAM = concat(...MESSAGES.map(encodeDoipMessage));
const asEvents = (messages: DoipMessage[]): DoipStreamEvent[] => messages.map((message) => ({ kind: 'message', message }));

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Push `chunks` and return every event; the reader must end cleanly. */
function feed(chunks: Uint8Array[], reader = new DoipStreamReader()): DoipStreamEvent[] {
  const events = chunks.flatMap((c) => reader.push(c));
  reader.end();
  return events;
}

function codeOf(event: DoipStreamEvent | undefined): unknown {
  return event?.kind === 'error' ? { code: event.error.code, nack: event.error.wireCode, close: event.error.closeConnection } : event;
}

describe('DoipStreamReader', () => {
  it('reads three messages pushed in one chunk', () => {
    assert.deepEqual(feed([STREAM]), asEvents(MESSAGES));
  });

  it('reads three messages split in two at every byte offset', () => {
    for (let i = 0; i <= STREAM.length; i++) {
      assert.deepEqual(feed([STREAM.subarray(0, i), STREAM.subarray(i)]), asEvents(MESSAGES), `split at ${i}`);
    }
  });

  it('reads three messages split in three at every pair of offsets', () => {
    for (let i = 0; i <= STREAM.length; i++) {
      for (let j = i; j <= STREAM.length; j++) {
        const chunks = [STREAM.subarray(0, i), STREAM.subarray(i, j), STREAM.subarray(j)];
        assert.deepEqual(feed(chunks), asEvents(MESSAGES), `split at ${i}, ${j}`);
      }
    }
  });

  it('reads three messages pushed byte by byte', () => {
    assert.deepEqual(feed([...STREAM].map((b) => Uint8Array.of(b))), asEvents(MESSAGES));
  });

  it('decodes a payload lying whole in one chunk in place, without copying it', () => {
    const [, diag] = new DoipStreamReader().push(STREAM);
    assert.ok(diag?.kind === 'message' && diag.message.type === 'diagnosticMessage');
    assert.equal(diag.message.userData.buffer, STREAM.buffer);
  });

  it('holds a split payload in one buffer of exactly its length', () => {
    const reader = new DoipStreamReader();
    const big = encodeDoipMessage({ type: 'diagnosticMessage', sourceAddress: 0x0e00, targetAddress: 0x0011, userData: new Uint8Array(4096).fill(0x36) });
    assert.deepEqual(reader.push(big.subarray(0, 100)), []);
    assert.equal(reader.bufferedBytes, 4100);
    const events = reader.push(big.subarray(100));
    assert.equal(events.length, 1);
    assert.equal(reader.bufferedBytes, 0);
  });

  describe('when a header announces more than maxPayloadLength (ISO 13400-2 [DoIP-043])', () => {
    it('reports NACK 0x02 at once and allocates nothing for a 1 GiB payload', () => {
      const reader = new DoipStreamReader();
      const before = process.memoryUsage().arrayBuffers;
      // Diagnostic message announcing 0x40000000 bytes = 1 GiB.
      const events = reader.push(parseHex('02 FD 80 01 40 00 00 00 0E 00 00 10'));
      assert.deepEqual(events.map(codeOf), [{ code: 'DOIP_MESSAGE_TOO_LARGE', nack: 0x02, close: false }]);
      assert.equal(reader.bufferedBytes, 0);
      assert.equal(reader.skipRemaining, 2 ** 30 - 4);
      // Stream 16 MiB of the payload by: nothing is buffered, nothing is emitted, the skip counter runs down.
      const chunk = new Uint8Array(64 * 1024);
      for (let i = 0; i < 256; i++) {
        assert.deepEqual(reader.push(chunk), []);
        assert.equal(reader.bufferedBytes, 0);
      }
      assert.equal(reader.skipRemaining, 2 ** 30 - 4 - 16 * 2 ** 20);
      assert.ok(process.memoryUsage().arrayBuffers - before < 8 * 2 ** 20, 'no payload-sized allocation');
      assert.equal(reader.closed, false);
    });

    it('skips the announced bytes and reads the next message', () => {
      const tooBig = concat(parseHex('02 FD 80 01 00 00 13 88'), new Uint8Array(5000).fill(0x36)); // 5000 > 4100
      const alive = encodeDoipMessage({ type: 'aliveCheckRequest' });
      const stream = concat(tooBig, alive);
      for (const size of [1, 7, 4096, stream.length]) {
        const chunks: Uint8Array[] = [];
        for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
        const events = feed(chunks);
        assert.deepEqual(events.map(codeOf), [
          { code: 'DOIP_MESSAGE_TOO_LARGE', nack: 0x02, close: false },
          { kind: 'message', message: { type: 'aliveCheckRequest', protocolVersion: 2 } },
        ]);
      }
    });

    it('applies a configured maximum', () => {
      const reader = new DoipStreamReader({ maxPayloadLength: 6 });
      const events = reader.push(STREAM);
      // The 7-byte routing activation and diagnostic message are refused; the 2-byte alive check response passes.
      assert.deepEqual(events.map((e) => (e.kind === 'error' ? e.error.code : e.message.type)), [
        'DOIP_MESSAGE_TOO_LARGE',
        'DOIP_MESSAGE_TOO_LARGE',
        'aliveCheckResponse',
      ]);
      assert.equal(DOIP_DEFAULT_MAX_PAYLOAD_LENGTH, 4100);
    });
  });

  it('discards a message of unknown payload type with NACK 0x01 and reads on (ISO 13400-2 [DoIP-042])', () => {
    const unknown = parseHex('02 FD F0 10 00 00 00 03 AA BB CC');
    const events = feed([concat(unknown, STREAM)]);
    assert.deepEqual(events.map(codeOf), [{ code: 'DOIP_UNKNOWN_PAYLOAD_TYPE', nack: 0x01, close: false }, ...asEvents(MESSAGES)]);
  });

  it('discards a message refused for lack of memory with NACK 0x03 and reads on (ISO 13400-2 [DoIP-044])', () => {
    const reader = new DoipStreamReader({ hasMemoryFor: (n) => n <= 3 });
    const events = feed([STREAM], reader);
    assert.deepEqual(events.map((e) => (e.kind === 'error' ? e.error.wireCode : e.message.type)), [0x03, 0x03, 'aliveCheckResponse']);
  });

  it('stops after a wrong inverse version with NACK 0x00 and close (ISO 13400-2 [DoIP-041])', () => {
    const reader = new DoipStreamReader();
    const events = reader.push(concat(STREAM.subarray(0, 15), parseHex('02 FC 00 07 00 00 00 00'), STREAM));
    assert.deepEqual(events.map(codeOf), [asEvents(MESSAGES)[0], { code: 'DOIP_HEADER_PATTERN', nack: 0x00, close: true }]);
    assert.equal(reader.closed, true);
    assert.deepEqual(reader.push(STREAM), []);
    assert.doesNotThrow(() => reader.end());
  });

  it('stops after an invalid payload length with NACK 0x04 and close (ISO 13400-2 [DoIP-045])', () => {
    const reader = new DoipStreamReader();
    const events = reader.push(concat(parseHex('02 FD 00 07 00 00 00 01 00'), STREAM));
    assert.deepEqual(events.map(codeOf), [{ code: 'DOIP_INVALID_PAYLOAD_LENGTH', nack: 0x04, close: true }]);
    assert.equal(reader.closed, true);
  });

  it('refuses version 0xFF outside identification requests, and takes it on them', () => {
    const vi = parseHex('FF 00 00 01 00 00 00 00');
    assert.deepEqual(feed([vi]), [{ kind: 'message', message: { type: 'vehicleIdentificationRequest', protocolVersion: 0xff } }]);
    const events = new DoipStreamReader().push(parseHex('FF 00 00 07 00 00 00 00'));
    assert.deepEqual(events.map(codeOf), [{ code: 'DOIP_HEADER_VERSION', nack: 0x00, close: true }]);
  });

  describe('end', () => {
    for (const [what, bytes] of [
      ['inside a header', STREAM.subarray(0, 5)],
      ['inside a payload', STREAM.subarray(0, 20)],
      ['inside a skipped payload', parseHex('02 FD F0 10 00 00 00 03 AA')],
    ] as const) {
      it(`throws DOIP_TRUNCATED when the stream ends ${what}`, () => {
        const reader = new DoipStreamReader();
        reader.push(bytes);
        assert.throws(() => reader.end(), (e: unknown) => e instanceof DecodeError && e.code === 'DOIP_TRUNCATED');
      });
    }

    it('accepts an end between messages', () => {
      const reader = new DoipStreamReader();
      reader.push(STREAM);
      assert.doesNotThrow(() => reader.end());
    });
  });
});
