import { createCipheriv, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isOtaError } from '../../../src/protocol/errors.js';
import {
  decodeRecordHeader,
  deriveRecordKeys,
  gcmNonce,
  openRecord,
  sealRecord,
  type RecordKeys,
} from '../../../src/security/channel/index.js';
import { flip } from './fixtures.js';

const SID = Buffer.from('0102030405060708', 'hex');
const GCM: RecordKeys = deriveRecordKeys('aes-256-gcm', Buffer.alloc(32, 0x11));
const DES: RecordKeys = deriveRecordKeys('3des-cbc-hmac-sha256', Buffer.alloc(32, 0x22));
const FIELDS = { sessionId: SID, epoch: 0, seq: 5 };

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isOtaError(e), `not an OtaError: ${String(e)}`);
    return e.code;
  }
  return 'NO_ERROR';
}

describe('sealRecord', () => {
  it('lays out the 24-byte header, then ciphertext and a 16-byte tag for aes-256-gcm', () => {
    const rec = sealRecord(GCM, { sessionId: SID, epoch: 3, seq: 0x0102030405 }, Buffer.from('hello'));
    assert.equal(rec.length, 24 + 5 + 16);
    assert.equal(rec.subarray(0, 24).toString('hex'),
      '01' + // version
      '17' + // type: record
      '01' + // suite: aes-256-gcm
      '03' + // key epoch
      '0102030405060708' + // session id
      '0000000102030405' + // sequence number (u64 BE)
      '00000015'); // body length 5 + 16
  });

  it('lays out header ‖ IV ‖ PKCS#7-padded 3DES ciphertext ‖ full 32-byte HMAC for 3des-cbc-hmac-sha256', () => {
    const iv = Buffer.from('a0a1a2a3a4a5a6a7', 'hex');
    const rec = sealRecord(DES, FIELDS, Buffer.alloc(8, 0x41), iv);
    assert.equal(rec.length, 24 + 8 + 16 + 32); // 8 bytes of plaintext pad to two blocks
    assert.equal(rec[2], 0x02);
    assert.equal(rec.readUInt32BE(20), 8 + 16 + 32);
    assert.deepEqual(rec.subarray(24, 32), iv);
    const expectedTag = createHmac('sha256', (DES as { macKey: Buffer }).macKey).update(rec.subarray(0, 24 + 8 + 16)).digest();
    assert.deepEqual(rec.subarray(48), expectedTag);
  });

  it('draws a fresh random IV per 3DES record', () => {
    const a = sealRecord(DES, FIELDS, Buffer.from('same'));
    const b = sealRecord(DES, FIELDS, Buffer.from('same'));
    assert.notDeepEqual(a.subarray(24, 32), b.subarray(24, 32));
  });

  it('builds the GCM nonce as IV XOR the right-aligned 64-bit sequence number', () => {
    const iv = Buffer.from('000102030405060708090a0b', 'hex');
    assert.equal(gcmNonce(iv, 0).toString('hex'), '000102030405060708090a0b');
    // 04050607 08090a0b XOR 00000102 03040506 = 04050705 0b0d0f0d
    assert.equal(gcmNonce(iv, 0x0000_0102_0304_0506).toString('hex'), '0001020304050705' + '0b0d0f0d');
  });

  it('refuses a plaintext over 64 KiB with SC_TOO_LARGE', () => {
    assert.equal(code(() => sealRecord(GCM, FIELDS, new Uint8Array(65537))), 'SC_TOO_LARGE');
  });
});

describe('openRecord', () => {
  for (const keys of [GCM, DES]) {
    describe(keys.suite, () => {
      const rec = sealRecord(keys, FIELDS, Buffer.from('diagnostic request 22 F1 90'));
      const bodyStart = 24;
      const tagAt = rec.length - (keys.suite === 'aes-256-gcm' ? 16 : 32);

      it('opens what sealRecord sealed', () => {
        const { header, plaintext } = openRecord(keys, rec);
        assert.equal(plaintext.toString(), 'diagnostic request 22 F1 90');
        assert.equal(header.seq, 5);
        assert.equal(header.suite, keys.suite);
      });

      it('refuses a flipped sequence-number bit in the header with SC_BAD_TAG (header is authenticated)', () => {
        assert.equal(code(() => openRecord(keys, flip(rec, 19))), 'SC_BAD_TAG');
      });
      it('refuses a flipped epoch bit with SC_BAD_TAG', () => {
        assert.equal(code(() => openRecord(keys, flip(rec, 3))), 'SC_BAD_TAG');
      });
      if (keys.suite === '3des-cbc-hmac-sha256') {
        it('refuses a flipped IV bit with SC_BAD_TAG', () => {
          assert.equal(code(() => openRecord(keys, flip(rec, bodyStart))), 'SC_BAD_TAG');
        });
      }
      it('refuses a flipped ciphertext bit with SC_BAD_TAG', () => {
        assert.equal(code(() => openRecord(keys, flip(rec, tagAt - 1, 7))), 'SC_BAD_TAG');
      });
      it('refuses a flipped tag bit with SC_BAD_TAG', () => {
        assert.equal(code(() => openRecord(keys, flip(rec, rec.length - 1))), 'SC_BAD_TAG');
      });
      it('refuses a truncated record with SC_TRUNCATED', () => {
        assert.equal(code(() => openRecord(keys, rec.subarray(0, rec.length - 1))), 'SC_TRUNCATED');
        assert.equal(code(() => openRecord(keys, rec.subarray(0, 23))), 'SC_TRUNCATED');
      });
      it('refuses the record under the other suite\'s keys with SC_WRONG_SUITE', () => {
        assert.equal(code(() => openRecord(keys === GCM ? DES : GCM, rec)), 'SC_WRONG_SUITE');
      });
    });
  }

  it('refuses an authenticated 3DES record with broken PKCS#7 padding with SC_BAD_PADDING', () => {
    const k = DES as { encKey: Buffer; macKey: Buffer };
    const iv = Buffer.alloc(8, 7);
    const c = createCipheriv('des-ede3-cbc', k.encKey, iv).setAutoPadding(false);
    const ct = Buffer.concat([c.update(Buffer.from('0102030405060700', 'hex')), c.final()]); // last byte 0x00: no valid pad
    const header = Buffer.from('01170200' + SID.toString('hex') + '0000000000000000' + (8 + 8 + 32).toString(16).padStart(8, '0'), 'hex');
    const signed = Buffer.concat([header, iv, ct]);
    const rec = Buffer.concat([signed, createHmac('sha256', k.macKey).update(signed).digest()]);
    assert.equal(code(() => openRecord(DES, rec)), 'SC_BAD_PADDING');
  });
});

describe('decodeRecordHeader', () => {
  const good = sealRecord(GCM, FIELDS, Buffer.from('x'));
  const with_ = (i: number, v: number): Buffer => {
    const b = Buffer.from(good);
    b[i] = v;
    return b;
  };
  const malformed: Array<[string, Uint8Array, string]> = [
    ['empty', new Uint8Array(0), 'SC_TRUNCATED'],
    ['header only, 23 bytes', good.subarray(0, 23), 'SC_TRUNCATED'],
    ['version 0x02', with_(0, 2), 'SC_BAD_VERSION'],
    ['a ClientHello type byte', with_(1, 1), 'SC_UNEXPECTED_MESSAGE'],
    ['unknown suite 0x09', with_(2, 9), 'SC_MALFORMED'],
    ['sequence number ≥ 2^53', with_(12, 0x80), 'SC_MALFORMED'],
    ['length one more than present', with_(23, good[23]! + 1), 'SC_TRUNCATED'],
    ['length one less than present (trailing byte)', with_(23, good[23]! - 1), 'SC_MALFORMED'],
    ['length 2^32 - 1', Buffer.concat([good.subarray(0, 20), Buffer.from('ffffffff', 'hex'), good.subarray(24)]), 'SC_TOO_LARGE'],
    ['GCM body shorter than its tag', Buffer.concat([good.subarray(0, 20), Buffer.from('0000000f', 'hex'), Buffer.alloc(15)]), 'SC_MALFORMED'],
    [
      '3DES body not IV + whole blocks + tag',
      Buffer.concat([Buffer.from('01170200', 'hex'), SID, Buffer.alloc(8), Buffer.from('00000031', 'hex'), Buffer.alloc(49)]),
      'SC_MALFORMED',
    ],
  ];
  for (const [name, bytes, expected] of malformed) {
    it(`refuses ${name} with ${expected}`, () => {
      assert.equal(code(() => decodeRecordHeader(bytes)), expected);
    });
  }
});

describe('record properties', () => {
  for (const keys of [GCM, DES]) {
    it(`${keys.suite}: open(seal(p)) = p for sizes 0..2 KiB`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 2048 }), fc.nat({ max: 2 ** 40 }), (p, seq) => {
          const { plaintext, header } = openRecord(keys, sealRecord(keys, { sessionId: SID, epoch: 0, seq }, p));
          assert.deepEqual(new Uint8Array(plaintext), p);
          assert.equal(header.seq, seq);
        }),
        { numRuns: 1000 },
      );
    });
    it(`${keys.suite}: open(seal(p)) = p for sizes up to 64 KiB`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 65536 }), fc.integer({ min: 0, max: 255 }), (n, fill) => {
          const p = Buffer.alloc(n, fill);
          if (n > 0) p[n - 1] = n & 0xff;
          assert.deepEqual(openRecord(keys, sealRecord(keys, FIELDS, p)).plaintext, p);
        }),
        { numRuns: 200 },
      );
    });
  }

  it('random bytes into openRecord give only OtaError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, plausible) => {
        if (plausible && bytes.length >= 4) {
          // Make the header plausible so the decoder reaches the deeper checks.
          bytes[0] = 1;
          bytes[1] = 0x17;
          bytes[2] = 1 + (bytes[2]! & 1);
        }
        for (const keys of [GCM, DES]) {
          try {
            openRecord(keys, bytes);
          } catch (e) {
            if (!isOtaError(e)) throw e;
          }
        }
      }),
      { numRuns: 10_000 },
    );
  });

  it('random mutations of a valid record give only OtaError', () => {
    const recs = [sealRecord(GCM, FIELDS, Buffer.from('abc')), sealRecord(DES, FIELDS, Buffer.from('abc'))];
    fc.assert(
      fc.property(fc.nat({ max: 1 }), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(), (which, edits, cut) => {
        const rec = Buffer.from(recs[which]!);
        for (const [at, v] of edits) rec[at % rec.length] = v;
        const bytes = cut % 3 === 0 ? rec.subarray(0, cut % rec.length) : rec;
        try {
          openRecord(which === 0 ? GCM : DES, bytes);
        } catch (e) {
          if (!isOtaError(e)) throw e;
        }
      }),
      { numRuns: 10_000 },
    );
  });
});
