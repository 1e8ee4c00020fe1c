import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OtaError } from '../../../src/protocol/errors.js';
import {
  DOIP_DEFAULT_MAX_PAYLOAD_LENGTH,
  DOIP_HEADER_LENGTH,
  DOIP_PAYLOAD_TYPE,
  DoipError,
  DoipStreamReader,
  decodeDoipMessage,
  describeDoip,
  encodeDoipMessage,
  type DoipMessage,
  type DoipStreamEvent,
} from '../../../src/protocol/doip/index.js';

const RUNS = { numRuns: 10_000 };

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const nonZeroU32 = fc.integer({ min: 1, max: 0xffffffff });
const version = fc.constantFrom(1, 2, 3);
const id6 = fc.uint8Array({ minLength: 6, maxLength: 6 });
const vin = fc.array(u8, { minLength: 17, maxLength: 17 }).map((codes) => String.fromCharCode(...codes));
const someBytes = fc.uint8Array({ minLength: 1, maxLength: 64 });

/** Like fc.record, with the keys not in `required` optional (absent, never `undefined`). */
function withOptional<T extends object>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }, required: (keyof T)[]): fc.Arbitrary<T> {
  return fc.record(model, { requiredKeys: required }) as unknown as fc.Arbitrary<T>;
}

/** A random valid message of every payload type, with a protocol version it may carry. */
const anyMessage: fc.Arbitrary<DoipMessage> = fc
  .oneof(
    fc.record({ type: fc.constant('genericNack' as const), protocolVersion: version, nackCode: u8 }),
    fc.record({ type: fc.constant('vehicleIdentificationRequest' as const), protocolVersion: fc.constantFrom(1, 2, 3, 0xff) }),
    fc.record({ type: fc.constant('vehicleIdentificationRequestEid' as const), protocolVersion: fc.constantFrom(1, 2, 3, 0xff), eid: id6 }),
    fc.record({ type: fc.constant('vehicleIdentificationRequestVin' as const), protocolVersion: fc.constantFrom(1, 2, 3, 0xff), vin }),
    withOptional(
      { type: fc.constant('vehicleAnnouncement' as const), protocolVersion: version, vin, logicalAddress: u16, eid: id6, gid: id6, furtherAction: u8, syncStatus: u8 },
      ['type', 'protocolVersion', 'vin', 'logicalAddress', 'eid', 'gid', 'furtherAction'],
    ),
    version.chain((v) =>
      withOptional(
        {
          type: fc.constant('routingActivationRequest' as const),
          protocolVersion: fc.constant(v),
          sourceAddress: u16,
          activationType: v === 1 ? u16 : u8,
          reserved: nonZeroU32,
          oemSpecific: u32,
        },
        ['type', 'protocolVersion', 'sourceAddress', 'activationType'],
      ),
    ),
    withOptional(
      { type: fc.constant('routingActivationResponse' as const), protocolVersion: version, testerAddress: u16, entityAddress: u16, responseCode: u8, reserved: nonZeroU32, oemSpecific: u32 },
      ['type', 'protocolVersion', 'testerAddress', 'entityAddress', 'responseCode'],
    ),
    fc.record({ type: fc.constant('aliveCheckRequest' as const), protocolVersion: version }),
    fc.record({ type: fc.constant('aliveCheckResponse' as const), protocolVersion: version, sourceAddress: u16 }),
    fc.record({ type: fc.constant('entityStatusRequest' as const), protocolVersion: version }),
    withOptional(
      { type: fc.constant('entityStatusResponse' as const), protocolVersion: version, nodeType: u8, maxOpenSockets: u8, openSockets: u8, maxDataSize: u32 },
      ['type', 'protocolVersion', 'nodeType', 'maxOpenSockets', 'openSockets'],
    ),
    fc.record({ type: fc.constant('powerModeRequest' as const), protocolVersion: version }),
    fc.record({ type: fc.constant('powerModeResponse' as const), protocolVersion: version, powerMode: u8 }),
    fc.record({ type: fc.constant('diagnosticMessage' as const), protocolVersion: version, sourceAddress: u16, targetAddress: u16, userData: someBytes }),
    withOptional(
      { type: fc.constant('diagnosticAck' as const), protocolVersion: version, sourceAddress: u16, targetAddress: u16, ackCode: u8, previousData: someBytes },
      ['type', 'protocolVersion', 'sourceAddress', 'targetAddress', 'ackCode'],
    ),
    withOptional(
      { type: fc.constant('diagnosticNack' as const), protocolVersion: version, sourceAddress: u16, targetAddress: u16, nackCode: u8, previousData: someBytes },
      ['type', 'protocolVersion', 'sourceAddress', 'targetAddress', 'nackCode'],
    ),
  )
  // fast-check builds records without a prototype; decoded messages are plain objects.
  .map((m) => ({ ...m }) as DoipMessage);

/**
 * Adversarial bytes: fully random, or a header with a valid pattern and a known or random payload type, a small
 * or huge announced length and a random body — so the checks past the pattern are exercised too.
 */
const knownTypes = Object.values(DOIP_PAYLOAD_TYPE);
const headerish = fc
  .record({
    version: fc.oneof({ arbitrary: fc.constantFrom(1, 2, 3), weight: 4 }, { arbitrary: fc.constantFrom(0, 4, 0xff), weight: 1 }),
    payloadType: fc.oneof({ arbitrary: fc.constantFrom(...knownTypes), weight: 4 }, { arbitrary: u16, weight: 1 }),
    length: fc.oneof({ arbitrary: fc.constant('exact' as const), weight: 3 }, fc.integer({ min: 0, max: 40 }), u32),
    body: fc.uint8Array({ maxLength: 48 }),
  })
  .map(({ version: v, payloadType, length, body }) => {
    const out = new Uint8Array(DOIP_HEADER_LENGTH + body.length);
    const view = new DataView(out.buffer);
    view.setUint8(0, v);
    view.setUint8(1, ~v & 0xff);
    view.setUint16(2, payloadType);
    view.setUint32(4, length === 'exact' ? body.length : length);
    out.set(body, DOIP_HEADER_LENGTH);
    return out;
  });
const adversarial = fc.oneof(fc.uint8Array({ maxLength: 64 }), headerish, fc.array(headerish, { maxLength: 4 }).map(concat));

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Cut `bytes` at the given fractions, in order. */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = cuts.map((c) => Math.floor(c * bytes.length)).sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  return chunks;
}
const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 });

function expectOtaError(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof OtaError)) throw e;
  }
}

describe('DoIP properties', () => {
  it('decodeDoipMessage(encodeDoipMessage(m)) deep-equals m for random valid messages of every type', () => {
    fc.assert(
      fc.property(anyMessage, (m) => {
        assert.deepEqual(decodeDoipMessage(encodeDoipMessage(m)), m);
      }),
      RUNS,
    );
  });

  it('the stream reader returns concatenated random messages split at random points', () => {
    fc.assert(
      fc.property(fc.array(anyMessage, { minLength: 1, maxLength: 5 }), cuts, (messages, at) => {
        const reader = new DoipStreamReader();
        const events = split(concat(messages.map(encodeDoipMessage)), at).flatMap((c) => reader.push(c));
        reader.end();
        assert.deepEqual(events, messages.map((message) => ({ kind: 'message', message })));
      }),
      RUNS,
    );
  });

  it('random bytes into decodeDoipMessage give only OtaError', () => {
    fc.assert(
      fc.property(adversarial, (bytes) => {
        expectOtaError(() => decodeDoipMessage(bytes));
      }),
      RUNS,
    );
  });

  it('random bytes into the stream reader give only DoipError events or OtaError, and bounded buffering', () => {
    fc.assert(
      fc.property(adversarial, cuts, (bytes, at) => {
        const reader = new DoipStreamReader();
        const events: DoipStreamEvent[] = [];
        for (const chunk of split(bytes, at)) {
          events.push(...reader.push(chunk));
          assert.ok(reader.bufferedBytes <= DOIP_HEADER_LENGTH + DOIP_DEFAULT_MAX_PAYLOAD_LENGTH);
        }
        for (const [i, e] of events.entries()) {
          if (e.kind === 'error') {
            assert.ok(e.error instanceof DoipError);
            assert.ok(e.error.wireCode >= 0 && e.error.wireCode <= 4);
            // Nothing follows a refusal that closes the connection.
            if (e.error.closeConnection) assert.equal(i, events.length - 1);
          }
        }
        expectOtaError(() => reader.end());
      }),
      RUNS,
    );
  });

  it('random bytes into describeDoip give only OtaError, and JSON when they decode', () => {
    fc.assert(
      fc.property(adversarial, (bytes) => {
        expectOtaError(() => JSON.stringify(describeDoip(bytes)));
      }),
      RUNS,
    );
  });
});
