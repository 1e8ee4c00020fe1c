/** The dashboard console keeps and shows exchanges under the project's one redaction rule (web/src/lib/uds.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isRedacted, redactResult, redactUdsHex } from '../../web/src/lib/uds.js';
import type { DiagResult } from '../../web/src/api/types.js';

describe('dashboard console redaction', () => {
  it('keeps 67 01 and the decoded service of a requestSeed answer, not the seed', () => {
    const seed = '9F'.repeat(16);
    const result: DiagResult = {
      id: 'x',
      logId: 1,
      vehicleId: 'V',
      ecu: 'engine',
      request: '2701',
      response: '6701' + seed,
      positive: true,
      decoded: { service: 'SecurityAccess', subFunction: 'requestSeed', securitySeed: { hex: seed, length: 16 } },
      pending: 0,
      elapsedMs: 1,
      roundTripMs: 1,
    };
    const shown = redactResult(result);
    assert.equal(shown.response, '6701' + 'XX'.repeat(16));
    assert.deepEqual(shown.decoded, { service: 'SecurityAccess', subFunction: 'requestSeed', redactedBytes: 16 });
    assert.ok(!JSON.stringify(shown).includes('9F9F'));
  });
  it('keeps a typed sendKey out of the history, and such a request cannot be repeated', () => {
    const kept = redactUdsHex('2702' + '01'.repeat(16));
    assert.equal(kept, '2702' + 'XX'.repeat(16));
    assert.ok(isRedacted(kept));
    assert.ok(!isRedacted('22F190'));
  });
});
