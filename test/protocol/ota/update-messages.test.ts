import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OtaError } from '../../../src/protocol/errors.js';
import { decodeControl, encodeControl, messageClass, type ControlMessage } from '../../../src/protocol/ota/messages.js';
import { bitmapFromBase64, bitmapToBase64, decodeChunk, encodeChunk, MAX_CHUNKS } from '../../../src/protocol/ota/update-messages.js';

const isCode = (code: string) => (e: unknown) => e instanceof OtaError && e.code === code;

describe('update control messages', () => {
  it('round-trip through encodeControl / decodeControl', () => {
    const messages: ControlMessage[] = [
      { type: 'update.offer', jobId: 'j1', ecu: 'engine', assignment: 'AAEC', manifest: 'AQID', chunkSize: 4096, chunks: 14 },
      { type: 'update.accept', jobId: 'j1', have: '', window: 16 },
      { type: 'update.ack', jobId: 'j1', next: 8, received: 8, window: 16, have: '/w==' },
      { type: 'update.status', jobId: 'j1', phase: 'programming', percent: 42 },
      { type: 'update.status', jobId: 'j1', phase: 'done', percent: 100, version: '1.1.0' },
      { type: 'update.status', jobId: 'j1', phase: 'failed', percent: 0, error: { code: 'FW_ROLLBACK', message: 'counter 3 not above 7' } },
      { type: 'update.cancel', jobId: 'j1' },
    ];
    for (const m of messages) assert.deepEqual(decodeControl(encodeControl(m)), m);
  });

  const raw = (o: unknown) => Uint8Array.from([0x01, ...Buffer.from(JSON.stringify(o), 'utf8')]);
  const malformed: Array<[string, unknown]> = [
    ['an unknown phase', { type: 'update.status', jobId: 'j', phase: 'flashing', percent: 1 }],
    ['percent above 100', { type: 'update.status', jobId: 'j', phase: 'programming', percent: 101 }],
    ['a zero chunk size', { type: 'update.offer', jobId: 'j', ecu: 'e', assignment: 'AA==', manifest: 'AA==', chunkSize: 0, chunks: 1 }],
    ['too many chunks', { type: 'update.offer', jobId: 'j', ecu: 'e', assignment: 'AA==', manifest: 'AA==', chunkSize: 1, chunks: MAX_CHUNKS + 1 }],
    ['non-base64 manifest', { type: 'update.offer', jobId: 'j', ecu: 'e', assignment: 'AA==', manifest: 'not base64!', chunkSize: 1, chunks: 1 }],
    ['a zero window', { type: 'update.accept', jobId: 'j', have: '', window: 0 }],
    ['a missing job id', { type: 'update.cancel' }],
    // 33 × 'é' = 33 characters but 66 UTF-8 bytes: no chunk header could carry it.
    ['a job id of 66 UTF-8 bytes', { type: 'update.cancel', jobId: 'é'.repeat(33) }],
    // JSON may carry a lone surrogate (\ud800); UTF-8 cannot, so chunks would name another job.
    ['a job id with a lone surrogate', { type: 'update.cancel', jobId: 'job-\ud800' }],
  ];
  for (const [what, value] of malformed) {
    it(`refuses ${what} with OTA_MSG_FIELD`, () => {
      assert.throws(() => decodeControl(raw(value)), isCode('OTA_MSG_FIELD'));
    });
  }
});

describe('job ids in control messages and chunks', () => {
  it('every job id a control message accepts round-trips through a chunk header, and no other', () => {
    const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
    fc.assert(
      fc.property(fc.oneof(fc.string({ minLength: 0, maxLength: 70 }), fc.string({ unit: anyUnit, minLength: 1, maxLength: 40 })), (jobId) => {
        let accepted: boolean;
        try {
          decodeControl(Uint8Array.from([0x01, ...Buffer.from(JSON.stringify({ type: 'update.cancel', jobId }), 'utf8')]));
          accepted = true;
        } catch (e) {
          assert.ok(isCode('OTA_MSG_FIELD')(e));
          accepted = false;
        }
        if (accepted) assert.equal(decodeChunk(encodeChunk({ jobId, index: 0, data: Uint8Array.of(1) })).jobId, jobId);
        else assert.throws(() => encodeChunk({ jobId, index: 0, data: Uint8Array.of(1) }), isCode('OTA_CHUNK_JOB_ID'));
      }),
      { numRuns: 10_000 },
    );
  });

  it('encodeChunk refuses a job id of 65 UTF-8 bytes or with a lone surrogate (OTA_CHUNK_JOB_ID)', () => {
    assert.throws(() => encodeChunk({ jobId: 'a' + 'é'.repeat(32), index: 0, data: Uint8Array.of(1) }), isCode('OTA_CHUNK_JOB_ID'));
    assert.throws(() => encodeChunk({ jobId: '\udc00', index: 0, data: Uint8Array.of(1) }), isCode('OTA_CHUNK_JOB_ID'));
    assert.equal(decodeChunk(encodeChunk({ jobId: 'é'.repeat(32), index: 0, data: Uint8Array.of(1) })).jobId, 'é'.repeat(32)); // exactly 64 bytes
  });
});

describe('encodeChunk / decodeChunk', () => {
  it('lays out 02 01 len jobId index data', () => {
    const bytes = encodeChunk({ jobId: 'ab', index: 258, data: Uint8Array.of(0xde, 0xad) });
    // class 02, kind 01, id length 02, "ab", index 00 00 01 02, data DE AD
    assert.equal(Buffer.from(bytes).toString('hex'), '020102616200000102dead');
    assert.equal(messageClass(bytes), 'bulk');
    const back = decodeChunk(bytes);
    assert.equal(back.jobId, 'ab');
    assert.equal(back.index, 258);
    assert.deepEqual([...back.data], [0xde, 0xad]);
  });

  const malformed: Array<[string, number[], string]> = [
    ['a control message', [0x01, 0x7b], 'OTA_MSG_CLASS'],
    ['an unknown bulk kind', [0x02, 0x09, 0x01, 0x61, 0, 0, 0, 0, 1], 'OTA_CHUNK_KIND'],
    ['a zero-length job id', [0x02, 0x01, 0x00, 0, 0, 0, 0, 1], 'OTA_CHUNK_JOB_ID'],
    ['no data byte', [0x02, 0x01, 0x01, 0x61, 0, 0, 0, 0], 'OTA_CHUNK_TRUNCATED'],
    ['an index out of range', [0x02, 0x01, 0x01, 0x61, 0xff, 0xff, 0xff, 0xff, 1], 'OTA_CHUNK_INDEX'],
    ['a job id that is not UTF-8', [0x02, 0x01, 0x01, 0xff, 0, 0, 0, 0, 1], 'OTA_CHUNK_JOB_ID'],
  ];
  for (const [what, bytes, code] of malformed) {
    it(`refuses ${what} with ${code}`, () => assert.throws(() => decodeChunk(Uint8Array.from(bytes)), isCode(code)));
  }

  it('round-trips random chunks and gives only typed errors on random bytes', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 16 }), fc.nat(MAX_CHUNKS - 1), fc.uint8Array({ minLength: 1, maxLength: 64 }), (jobId, index, data) => {
        const back = decodeChunk(encodeChunk({ jobId, index, data }));
        assert.equal(back.jobId, jobId);
        assert.equal(back.index, index);
        assert.deepEqual([...back.data], [...data]);
      }),
      { numRuns: 2_000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 32 }), (bytes) => {
        try {
          decodeChunk(bytes);
        } catch (e) {
          if (!(e instanceof OtaError)) throw e;
        }
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('chunk bitmaps', () => {
  it('round-trip and clear the bits past the last chunk', () => {
    const bits = Uint8Array.of(0xff, 0xff);
    assert.deepEqual([...bitmapFromBase64(bitmapToBase64(bits), 12)], [0xff, 0x0f]);
    assert.deepEqual([...bitmapFromBase64('', 9)], [0, 0]);
  });
});
