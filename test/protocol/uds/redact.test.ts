import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isRedactedUdsHex, redactUds, redactUdsHex, udsVisibleLength } from '../../../src/protocol/uds/index.js';

const bytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));

describe('redactUdsHex (the one redaction rule for stored and shown UDS bytes)', () => {
  const cases: Array<[string, string, string]> = [
    ['SecurityAccess sendKey: the key goes, 27 02 stays', '2702' + '11'.repeat(16), '2702' + 'XX'.repeat(16)],
    ['SecurityAccess requestSeed response: the seed goes', '6711' + 'AB'.repeat(16), '6711' + 'XX'.repeat(16)],
    ['SecurityAccess requestSeed with a data record: the record goes', '2701C0FFEE', '2701XXXXXX'],
    ['Authentication proof of ownership: everything after the task goes', '2903' + '00'.repeat(40), '2903' + 'XX'.repeat(40)],
    ['Authentication response: task and return value stay, the challenge goes', '690112' + 'CD'.repeat(8), '690112' + 'XX'.repeat(8)],
  ];
  for (const [name, input, want] of cases) {
    it(name, () => assert.equal(redactUdsHex(input), want));
  }

  it('keeps lower-case hex (as typed) in the same form', () => assert.equal(redactUdsHex('2702abcd'), '2702XXXX'));

  it('leaves messages without secrets as they are: requestSeed alone, sendKey answer, negative responses, other services', () => {
    for (const hex of ['2701', '6702', '7F2735', '7F2737', '22F190', '62F18C53494D', '10 03'.replace(' ', ''), '']) {
      assert.equal(redactUdsHex(hex), hex);
    }
  });

  it('leaves text that is not whole hex bytes unchanged (already redacted, or not hex)', () => {
    assert.equal(redactUdsHex('2702XXXX'), '2702XXXX');
    assert.equal(redactUdsHex('27021'), '27021');
    assert.ok(isRedactedUdsHex('2702XXXX'));
    assert.ok(!isRedactedUdsHex('2702AAAA'));
  });

  it('agrees with redactUds on bytes, and never keeps a secret byte (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), (b) => {
        const hex = Buffer.from(b).toString('hex').toUpperCase();
        const r = redactUds(b);
        const out = redactUdsHex(hex);
        assert.equal(out.length, hex.length);
        assert.equal(r.visible.length + r.redacted, b.length);
        assert.equal(out.slice(0, 2 * r.visible.length), Buffer.from(r.visible).toString('hex').toUpperCase());
        assert.equal(out.slice(2 * r.visible.length), 'XX'.repeat(r.redacted));
        assert.equal(redactUdsHex(out), out); // idempotent
      }),
    );
  });
});

describe('redactUds', () => {
  it('keeps SID and sub-function of a sendKey and counts the key bytes', () => {
    const r = redactUds(bytes('27 12' + ' 5A'.repeat(16)));
    assert.deepEqual([...r.visible], [0x27, 0x12]);
    assert.equal(r.redacted, 16);
  });
  it('shows a ReadDataByIdentifier in full', () => {
    assert.equal(udsVisibleLength(bytes('62 F1 90 41 42')), 5);
  });
});
