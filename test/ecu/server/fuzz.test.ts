// Random requests against the server in every mode and session: it never throws, answers at most one
// final response, and never falls back to 0x10 generalReject (which would mean an unexpected exception).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { toHex } from '../../../src/protocol/hex.js';
import { Harness, harnessWithApplication } from './helpers.js';

const SIDS = [0x10, 0x11, 0x14, 0x19, 0x22, 0x23, 0x27, 0x28, 0x2e, 0x31, 0x34, 0x35, 0x36, 0x37, 0x3e, 0x85, 0xba];

const request = fc.tuple(fc.constantFrom(...SIDS), fc.uint8Array({ maxLength: 24 })).map(([sid, rest]) => Uint8Array.of(sid, ...rest));

/** Checks one exchange: only well-formed answers to this SID, never generalReject. */
function checkResponses(req: Uint8Array, responses: Uint8Array[]): void {
  const sid = req[0] as number;
  const finals = responses.filter((r) => !(r[0] === 0x7f && r[2] === 0x78));
  assert.ok(finals.length <= 1, `at most one final response to ${toHex(req)}`);
  for (const r of finals) {
    if (r[0] === 0x7f) {
      assert.equal(r.length, 3);
      assert.equal(r[1], sid);
      assert.notEqual(r[2], 0x10, `generalReject for ${toHex(req)}`);
    } else {
      assert.equal(r[0], sid + 0x40, `positive response SID for ${toHex(req)}`);
    }
  }
}

async function run(h: Harness, req: Uint8Array, functional: boolean): Promise<void> {
  const responses: Uint8Array[] = [];
  await h.ecu.handler.handle(req, (r) => responses.push(Uint8Array.from(r)), { functional });
  checkResponses(req, responses);
}

async function programming(h: Harness): Promise<void> {
  await h.programmingUnlocked();
}

async function extended(h: Harness): Promise<void> {
  await h.one('10 03');
  await h.unlock(0x01);
}

const STATES: ReadonlyArray<[string, () => Harness, ((h: Harness) => Promise<void>) | undefined]> = [
  ['bootloader, default session', () => new Harness(), undefined],
  ['bootloader, programming session unlocked', () => new Harness(), programming],
  ['application, default session', () => harnessWithApplication(), undefined],
  ['application, extended session unlocked', () => harnessWithApplication(), extended],
];

describe('UDS server robustness', () => {
  for (const [name, make, setup] of STATES) {
    it(`${name}: random requests get only well-formed answers, never 0x10`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 6 }), fc.boolean(), async (requests, functional) => {
          const h = make();
          await setup?.(h);
          for (const req of requests) await run(h, req, functional);
          h.ecu.close();
        }),
        { numRuns: 300 },
      );
    });
  }
});
