import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isOtaError } from '../../../src/protocol/errors.js';
import type { SecureChannel, SuiteName } from '../../../src/security/channel/index.js';
import { established, flip, pair, snapshot } from './fixtures.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isOtaError(e), `not an OtaError: ${String(e)}`);
    return e.code;
  }
  return 'NO_ERROR';
}

/** `victim.open(record)` is refused with `code`; nothing observable changes; the refusal is counted. */
function refusedWithoutChange(victim: SecureChannel, record: Uint8Array, code: string): void {
  const before = snapshot(victim);
  const counted = victim.stats.refused[code] ?? 0;
  assert.equal(codeOf(() => victim.open(record)), code);
  assert.equal(snapshot(victim), before);
  assert.equal(victim.stats.refused[code], counted + 1);
}

const text = (b: Uint8Array): string => Buffer.from(b).toString();
const SUITES: SuiteName[] = ['aes-256-gcm', '3des-cbc-hmac-sha256'];

describe('SecureChannel records', () => {
  it('refuses records before the handshake completes with SC_NOT_ESTABLISHED', async () => {
    const { vehicle, manager } = await pair();
    const other = await established();
    const stray = other.vehicle.seal(Buffer.from('early'));
    assert.equal(codeOf(() => vehicle.seal(Buffer.from('x'))), 'SC_NOT_ESTABLISHED');
    refusedWithoutChange(manager, stray, 'SC_NOT_ESTABLISHED');
    await manager.handle(await vehicle.start());
    assert.equal(manager.state, 'awaitFinished');
    assert.equal(codeOf(() => manager.seal(Buffer.from('x'))), 'SC_NOT_ESTABLISHED'); // responder waits for Finished
    refusedWithoutChange(manager, stray, 'SC_NOT_ESTABLISHED');
    refusedWithoutChange(vehicle, stray, 'SC_NOT_ESTABLISHED');
  });

  for (const suite of SUITES) {
    describe(suite, () => {
      const setup = (): ReturnType<typeof established> => established({ vehicle: { suites: [suite] } });

      it('refuses every flipped header bit with the code of the field it hits, then opens the genuine record', async () => {
        const { vehicle, manager } = await setup();
        const rec = vehicle.seal(Buffer.from('read DTCs 19 02 FF'));
        // Expected code for flipping bit 0 of each header byte (layout: record.ts).
        const expected = (i: number): string =>
          i === 0 ? 'SC_BAD_VERSION'
          : i === 1 ? 'SC_UNEXPECTED_MESSAGE' // 0x17 → 0x16 is not a record
          : i === 2 ? 'SC_MALFORMED' // 0x01 → 0x00, 0x02 → 0x03: unknown suite
          : i === 3 ? 'SC_BAD_TAG' // epoch 0 → 1: next-generation key, tag fails
          : i < 12 ? 'SC_WRONG_SESSION'
          : i === 12 ? 'SC_MALFORMED' // sequence number + 2^56: above 2^53 − 1
          : i < 20 ? 'SC_BAD_TAG' // sequence number: a fresh number, but authenticated
          : i < 22 ? 'SC_TOO_LARGE' // length + 2^24 or + 2^16: over the 64 KiB limit
          : 'SC_TRUNCATED'; // length + 2^8, or + 1 (bit 0 of an even length): more than present
        for (let i = 0; i < 24; i++) {
          const tampered = flip(rec, i);
          const want = i === 23 && (rec[23]! & 1) === 1 ? 'SC_MALFORMED' : expected(i);
          refusedWithoutChange(manager, tampered, want);
        }
        assert.equal(text(manager.open(rec)), 'read DTCs 19 02 FF');
      });

      it('refuses a flipped bit in the IV/ciphertext/tag with SC_BAD_TAG, changing no state', async () => {
        const { vehicle, manager } = await setup();
        const rec = vehicle.seal(Buffer.from('0123456789abcdef0123'));
        const tagLen = suite === 'aes-256-gcm' ? 16 : 32;
        if (suite === '3des-cbc-hmac-sha256') refusedWithoutChange(manager, flip(rec, 24 + 3), 'SC_BAD_TAG'); // IV
        refusedWithoutChange(manager, flip(rec, 24 + (suite === 'aes-256-gcm' ? 0 : 8), 5), 'SC_BAD_TAG'); // ciphertext
        refusedWithoutChange(manager, flip(rec, rec.length - tagLen, 7), 'SC_BAD_TAG'); // tag
        refusedWithoutChange(manager, rec.subarray(0, rec.length - 1), 'SC_TRUNCATED');
        assert.equal(manager.stats.recordsOpened, 0);
        assert.equal(text(manager.open(rec)), '0123456789abcdef0123');
      });

      it('refuses a record relabelled with the other suite with SC_WRONG_SUITE', async () => {
        const { vehicle, manager } = await setup();
        const rec = Uint8Array.from(vehicle.seal(Buffer.alloc(32))); // GCM body 48 bytes, also a possible 3DES body
        rec[2] = suite === 'aes-256-gcm' ? 0x02 : 0x01;
        refusedWithoutChange(manager, rec, 'SC_WRONG_SUITE');
      });

      it('refuses a replayed record with SC_REPLAY', async () => {
        const { vehicle, manager } = await setup();
        const rec = vehicle.seal(Buffer.from('once'));
        manager.open(rec);
        refusedWithoutChange(manager, rec, 'SC_REPLAY');
      });

      it('accepts reordering within the 64-record window and refuses records beyond it with SC_TOO_OLD', async () => {
        const { vehicle, manager } = await setup();
        const recs = Array.from({ length: 70 }, (_, i) => vehicle.seal(Buffer.from(`r${i}`)));
        assert.equal(text(manager.open(recs[69]!)), 'r69');
        for (const i of [68, 6, 40, 7]) assert.equal(text(manager.open(recs[i]!)), `r${i}`); // 69 − 6 = 63: inside
        refusedWithoutChange(manager, recs[5]!, 'SC_TOO_OLD'); // 69 − 5 = 64: left of the window
        refusedWithoutChange(manager, recs[0]!, 'SC_TOO_OLD');
        refusedWithoutChange(manager, recs[40]!, 'SC_REPLAY');
        assert.equal(manager.stats.receiveHighestSeq, 69);
      });

      it('refuses a record from another session with SC_WRONG_SESSION', async () => {
        const a = await setup();
        const b = await setup();
        assert.notDeepEqual(a.vehicle.sessionId, b.vehicle.sessionId);
        refusedWithoutChange(a.manager, b.vehicle.seal(Buffer.from('elsewhere')), 'SC_WRONG_SESSION');
      });

      it('refuses its own records reflected back (direction keys differ) with SC_BAD_TAG', async () => {
        const { vehicle } = await setup();
        refusedWithoutChange(vehicle, vehicle.seal(Buffer.from('echo')), 'SC_BAD_TAG');
      });

      it('round-trips random plaintexts of 0..64 KiB in both directions', async () => {
        const { vehicle, manager } = await setup();
        fc.assert(
          fc.property(fc.integer({ min: 0, max: 65536 }), fc.boolean(), (n, up) => {
            const p = Buffer.alloc(n, n & 0xff);
            const [from, to] = up ? [vehicle, manager] : [manager, vehicle];
            assert.deepEqual(Buffer.from(to.open(from.seal(p))), p);
          }),
          { numRuns: 200 },
        );
        assert.equal(vehicle.stats.recordsSealed + manager.stats.recordsSealed, 200);
      });

      it('gives only OtaError for random bytes fed to open()', async () => {
        const { manager } = await setup();
        const sid = manager.sessionId!;
        fc.assert(
          fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), (bytes, plausible) => {
            if (plausible && bytes.length >= 24) {
              bytes.set([1, 0x17, suite === 'aes-256-gcm' ? 1 : 2, 0], 0);
              bytes.set(sid, 4);
            }
            assert.ok(codeOf(() => manager.open(bytes)) !== 'NO_ERROR');
          }),
          { numRuns: 10_000 },
        );
        assert.equal(manager.stats.recordsOpened, 0);
      });

      it('rekeys both directions before the block limit (lowered to 64) and keeps interoperating', async () => {
        const opts = { maxPlaintext: 100, rekeyAfterBlocks: 64 };
        const { vehicle, manager } = await established({ vehicle: { suites: [suite], ...opts }, manager: opts });
        const seen = new Set<number>();
        const held: Uint8Array[] = [];
        for (let i = 0; i < 120; i++) {
          const p = Buffer.alloc(i % 101, i); // 0..100 bytes
          const rec = vehicle.seal(p);
          seen.add(rec[3]!);
          if (i % 10 === 9) held.push(rec); // delivered late, after the next generation started
          else assert.deepEqual(Buffer.from(manager.open(rec)), p);
          assert.deepEqual(Buffer.from(vehicle.open(manager.seal(p))), p);
          if (held.length > 0 && i % 10 === 2) manager.open(held.shift()!);
        }
        assert.ok(vehicle.stats.sendEpoch >= 3, `only ${vehicle.stats.sendEpoch} rekeys`);
        assert.equal(manager.stats.receiveEpoch, vehicle.stats.sendEpoch);
        assert.equal(vehicle.stats.receiveEpoch, manager.stats.sendEpoch);
        assert.ok(seen.size >= 4);
        // A record re-labelled with the previous epoch is refused: that key is spent or simply another key.
        const rec = vehicle.seal(Buffer.from('k'));
        const relabelled = Uint8Array.from(rec);
        relabelled[3] = (rec[3]! - 1) & 0xff;
        const before = snapshot(manager);
        assert.ok(['SC_BAD_TAG', 'SC_KEY_EXHAUSTED'].includes(codeOf(() => manager.open(relabelled))));
        assert.equal(snapshot(manager), before);
        relabelled[3] = (rec[3]! + 2) & 0xff;
        refusedWithoutChange(manager, relabelled, 'SC_BAD_EPOCH');
        assert.equal(text(manager.open(rec)), 'k');
      });

      it('refuses with SC_KEY_EXHAUSTED a sender that does not rekey in time', async () => {
        const { vehicle, manager } = await established({
          vehicle: { suites: [suite], maxPlaintext: 100, rekeyAfterBlocks: 10_000 },
          manager: { maxPlaintext: 100, rekeyAfterBlocks: 64 },
        });
        let code = 'NO_ERROR';
        for (let i = 0; i < 40 && code === 'NO_ERROR'; i++) code = codeOf(() => manager.open(vehicle.seal(Buffer.alloc(100))));
        assert.equal(code, 'SC_KEY_EXHAUSTED');
      });
    });
  }
});
