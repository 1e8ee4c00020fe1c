import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/protocol/clock.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { nrcErrorCode } from '../../src/protocol/uds/nrc.js';
import {
  computeKey,
  SA_LEVEL,
  SecurityAccess,
  type SecurityAccessOptions,
} from '../../src/ecu/security-access.js';
import { EcuState } from '../../src/ecu/state.js';
import { tempDir } from './helpers.js';

const SECRET = Uint8Array.from(Buffer.from('00112233445566778899aabbccddeeff', 'hex'));
const { requestSeed: SEED_PROG, sendKey: KEY_PROG } = SA_LEVEL.programming;
const { requestSeed: SEED_EXT, sendKey: KEY_EXT } = SA_LEVEL.extended;

/** Deterministic rng: 01 02 03 …, then 02 03 04 …, … */
function counterRng(): (n: number) => Uint8Array {
  let k = 0;
  return (n) => {
    k++;
    return Uint8Array.from({ length: n }, (_, i) => (k + i) & 0xff);
  };
}

function make(extra: Partial<SecurityAccessOptions> = {}): { sa: SecurityAccess; clock: FakeClock } {
  const clock = new FakeClock(1_700_000_000_000);
  return { sa: new SecurityAccess({ secret: SECRET, clock, rng: counterRng(), ...extra }), clock };
}

/** The NRC a call refuses with (asserting the typed error). */
function nrcOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ProtocolError, String(e));
    return e.wireCode;
  }
  return undefined;
}

function wrongKey(sa: SecurityAccess): number | undefined {
  const seed = sa.requestSeed(SEED_PROG);
  const key = computeKey(SECRET, seed);
  key[0] = (key[0] as number) ^ 0x01;
  return nrcOf(() => sa.sendKey(KEY_PROG, key));
}

describe('computeKey', () => {
  it('is HMAC-SHA256(secret, seed) truncated to the seed length (RFC 4231 test case 2)', () => {
    const key = computeKey(Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?'));
    // RFC 4231 §4.3 HMAC-SHA-256, first 28 bytes (the data is 28 bytes long)
    assert.equal(Buffer.from(key).toString('hex'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b9');
  });
});

describe('SecurityAccess', () => {
  it('unlocks the programming level with the right key for a 16-byte seed', () => {
    const { sa } = make();
    const seed = sa.requestSeed(SEED_PROG);
    assert.equal(seed.length, 16);
    sa.sendKey(KEY_PROG, computeKey(SECRET, seed));
    assert.equal(sa.unlockedLevel, SEED_PROG);
    assert.equal(sa.failedAttempts, 0);
  });

  it('answers an all-zero seed when the level is already unlocked, and 0x24 to a key after it', () => {
    const { sa } = make();
    sa.sendKey(KEY_EXT, computeKey(SECRET, sa.requestSeed(SEED_EXT)));
    assert.deepEqual(sa.requestSeed(SEED_EXT), new Uint8Array(16));
    assert.equal(nrcOf(() => sa.sendKey(KEY_EXT, new Uint8Array(16))), 0x24);
    assert.notDeepEqual(sa.requestSeed(SEED_PROG), new Uint8Array(16)); // other level: a real seed
  });

  it('refuses a key without a seed (or for another level) with requestSequenceError 0x24', () => {
    const { sa } = make();
    assert.equal(nrcOf(() => sa.sendKey(KEY_PROG, new Uint8Array(16))), 0x24);
    const seed = sa.requestSeed(SEED_EXT);
    assert.equal(nrcOf(() => sa.sendKey(KEY_PROG, computeKey(SECRET, seed))), 0x24);
    assert.equal(sa.failedAttempts, 0);
  });

  it('wrong keys → 0x35, 0x35, 0x36, then 0x37 until the 10 s delay has passed', async () => {
    const { sa, clock } = make();
    assert.equal(wrongKey(sa), 0x35);
    assert.equal(wrongKey(sa), 0x35);
    assert.equal(wrongKey(sa), 0x36);
    assert.equal(nrcOf(() => sa.requestSeed(SEED_PROG)), 0x37);
    assert.equal(nrcOf(() => sa.sendKey(KEY_PROG, new Uint8Array(16))), 0x37);
    assert.equal(nrcOf(() => sa.requestSeed(SEED_EXT)), 0x37);
    await clock.advanceAsync(9_999);
    assert.equal(sa.lockoutRemainingMs(), 1);
    assert.equal(nrcOf(() => sa.requestSeed(SEED_PROG)), 0x37);
    await clock.advanceAsync(1);
    const seed = sa.requestSeed(SEED_PROG);
    assert.equal(sa.failedAttempts, 0); // the count restarts once the delay has run out
    sa.sendKey(KEY_PROG, computeKey(SECRET, seed));
    assert.equal(sa.unlockedLevel, SEED_PROG);
  });

  it('uses the configured attempt limit and delay', async () => {
    const { sa, clock } = make({ maxAttempts: 2, lockoutMs: 500 });
    assert.equal(wrongKey(sa), 0x35);
    assert.equal(wrongKey(sa), 0x36);
    await clock.advanceAsync(499);
    assert.equal(nrcOf(() => sa.requestSeed(SEED_PROG)), 0x37);
    await clock.advanceAsync(1);
    assert.equal(nrcOf(() => sa.requestSeed(SEED_PROG)), undefined);
  });

  it('a seed answers one key: after a wrong key the right key for that seed gets 0x24', () => {
    const { sa } = make();
    const seed = sa.requestSeed(SEED_PROG);
    assert.equal(nrcOf(() => sa.sendKey(KEY_PROG, new Uint8Array(16))), 0x35);
    assert.equal(nrcOf(() => sa.sendKey(KEY_PROG, computeKey(SECRET, seed))), 0x24);
  });

  it('a success resets the attempt counter', () => {
    const { sa } = make();
    assert.equal(wrongKey(sa), 0x35);
    assert.equal(wrongKey(sa), 0x35);
    sa.sendKey(KEY_PROG, computeKey(SECRET, sa.requestSeed(SEED_PROG)));
    assert.equal(sa.failedAttempts, 0);
  });

  it('refuses a key of the wrong length with 0x13 without counting it', () => {
    const { sa } = make();
    sa.requestSeed(SEED_PROG);
    assert.equal(nrcOf(() => sa.sendKey(KEY_PROG, new Uint8Array(15))), 0x13);
    assert.equal(sa.failedAttempts, 0);
  });

  it('refuses unsupported sub-functions with 0x12 subFunctionNotSupported', () => {
    const { sa } = make();
    for (const sf of [0x00, 0x03, 0x13, 0x02, 0x7f]) {
      assert.throws(() => sa.requestSeed(sf), { code: 'UDS_NRC_SUB_FUNCTION_NOT_SUPPORTED', wireCode: 0x12 });
    }
    for (const sf of [0x01, 0x04, 0x14]) {
      assert.throws(() => sa.sendKey(sf, new Uint8Array(16)), { code: 'UDS_NRC_SUB_FUNCTION_NOT_SUPPORTED', wireCode: 0x12 });
    }
  });

  it('lock() (session change, reset) relocks and drops the pending seed', () => {
    const { sa } = make();
    sa.sendKey(KEY_PROG, computeKey(SECRET, sa.requestSeed(SEED_PROG)));
    const seed = sa.requestSeed(SEED_EXT);
    sa.lock();
    assert.equal(sa.unlockedLevel, null);
    assert.equal(nrcOf(() => sa.sendKey(KEY_EXT, computeKey(SECRET, seed))), 0x24);
  });

  it('refuses with UdsNegativeError codes UDS_NRC_<name> and the NRC as wireCode', () => {
    const { sa } = make();
    assert.throws(() => sa.sendKey(KEY_PROG, new Uint8Array(16)), { code: 'UDS_NRC_REQUEST_SEQUENCE_ERROR', wireCode: 0x24 });
    for (const [nrc, code] of [[0x35, 'UDS_NRC_INVALID_KEY'], [0x35, 'UDS_NRC_INVALID_KEY'], [0x36, 'UDS_NRC_EXCEED_NUMBER_OF_ATTEMPTS']] as const) {
      sa.requestSeed(SEED_PROG);
      assert.throws(() => sa.sendKey(KEY_PROG, new Uint8Array(16)), { code, wireCode: nrc });
    }
    assert.throws(() => sa.requestSeed(SEED_PROG), { code: nrcErrorCode(0x37), wireCode: 0x37 });
  });

  it('keeps the attempt counter and the lockout across a restart (state.json)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const clock = new FakeClock(1_700_000_000_000);
      const open = (): SecurityAccess =>
        new SecurityAccess({ secret: SECRET, clock, rng: counterRng(), store: EcuState.open(dir).slot('security') });
      let sa = open();
      assert.equal(wrongKey(sa), 0x35);
      assert.equal(wrongKey(sa), 0x35);
      sa = open(); // reset: a new process reads state.json
      assert.equal(sa.failedAttempts, 2);
      assert.equal(wrongKey(sa), 0x36);
      sa = open();
      assert.equal(nrcOf(() => sa.requestSeed(SEED_PROG)), 0x37);
      await clock.advanceAsync(10_000);
      sa = open();
      assert.equal(nrcOf(() => sa.requestSeed(SEED_PROG)), undefined);
      assert.equal(sa.unlockedLevel, null); // unlocking never survives a reset
    } finally {
      cleanup();
    }
  });
});
