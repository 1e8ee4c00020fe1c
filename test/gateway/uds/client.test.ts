import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../src/protocol/clock.js';
import { DecodeError, OtaError, TimeoutError } from '../../../src/protocol/errors.js';
import { UdsNegativeError } from '../../../src/protocol/uds/index.js';
import { securityAccessKey as computeKey } from '../../../src/security/access-key.js';
import { UdsClient } from '../../../src/gateway/uds/client.js';
import { ScriptedLink, hex } from './helpers.js';

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A client on a scripted link and a fake clock; margin 10 ms so P2client = 60 ms, P2*client = 5010 ms. */
function setup(options: ConstructorParameters<typeof UdsClient>[1] = {}): { clock: FakeClock; link: ScriptedLink; client: UdsClient } {
  const clock = new FakeClock(1_000_000);
  const link = new ScriptedLink();
  const client = new UdsClient(link, { clock, marginMs: 10, ...options });
  return { clock, link, client };
}

/** Settles `p` into a tagged result so a test can check it without an unhandled rejection. */
function settle<T>(p: Promise<T>): { result: () => { ok: true; value: T } | { ok: false; error: unknown } | undefined } {
  let out: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  p.then(
    (value) => (out = { ok: true, value }),
    (error: unknown) => (out = { ok: false, error }),
  );
  return { result: () => out };
}

function errorOf(r: { ok: true } | { ok: false; error: unknown } | undefined): OtaError {
  assert.ok(r !== undefined && !r.ok, 'expected a rejection');
  assert.ok(r.error instanceof OtaError, `expected an OtaError, got ${String(r.error)}`);
  return r.error;
}

describe('UdsClient.request', () => {
  it('resolves with the decoded positive response whose SID is the request SID + 0x40', async () => {
    const { link, client } = setup();
    const p = client.request({ service: 'ReadDataByIdentifier', dids: [0xf18c] });
    await flush();
    assert.equal(hex(link.sent[0] as Uint8Array), '22f18c');
    link.respond('62 F1 8C 41 42'); // RDBI positive: DID F18C, data "AB"
    const res = await p;
    assert.ok(res?.kind === 'positive' && res.service === 'ReadDataByIdentifier');
    assert.deepEqual(res.records, [{ did: 0xf18c, data: Uint8Array.of(0x41, 0x42) }]);
  });

  it('ignores responses to other services and counts them', async () => {
    const { link, client } = setup();
    const p = settle(client.request(Uint8Array.of(0x3e, 0x00)));
    await flush();
    link.respond('50 01 00 32 01 F4'); // a session response: not ours
    link.respond('7F 22 31'); // a negative response to 0x22: not ours
    await flush();
    assert.equal(p.result(), undefined);
    link.respond('7E 00');
    await flush();
    assert.deepEqual(p.result(), { ok: true, value: { kind: 'positive', service: 'TesterPresent' } });
    assert.equal(client.ignoredResponses, 2);
  });

  it('rejects a negative response with UdsNegativeError carrying the NRC as wireCode', async () => {
    const { link, client } = setup();
    const p = settle(client.request(Uint8Array.of(0x2e, 0xf1, 0x90, 0x41)));
    await flush();
    link.respond('7F 2E 33'); // securityAccessDenied
    await flush();
    const e = errorOf(p.result());
    assert.ok(e instanceof UdsNegativeError);
    assert.equal(e.code, 'UDS_NRC_SECURITY_ACCESS_DENIED');
    assert.equal(e.wireCode, 0x33);
    assert.equal(e.requestSid, 0x2e);
  });

  it('returns the negative response when the caller asks for it (acceptNegative)', async () => {
    const { link, client } = setup();
    const p = client.request(Uint8Array.of(0x10, 0x05), { acceptNegative: true });
    await flush();
    link.respond('7F 10 12');
    assert.deepEqual(await p, { kind: 'negative', sid: 0x7f, requestSid: 0x10, nrc: 0x12, nrcName: 'subFunctionNotSupported' });
  });

  it('times out with UDS_TIMEOUT after P2client (P2server_max + margin) and not before', async () => {
    const { clock, client } = setup();
    const p = settle(client.request(Uint8Array.of(0x22, 0xf1, 0x90)));
    await clock.advanceAsync(59);
    assert.equal(p.result(), undefined);
    await clock.advanceAsync(1);
    const e = errorOf(p.result());
    assert.ok(e instanceof TimeoutError);
    assert.equal(e.code, 'UDS_TIMEOUT');
  });

  it('switches to P2*client on NRC 0x78, repeatedly, then resolves with the final response', async () => {
    const { clock, link, client } = setup();
    const p = settle(client.request(Uint8Array.of(0x31, 0x01, 0xff, 0x00, 0x44, 8, 0, 0x20, 0, 0, 0, 4, 0)));
    await clock.advanceAsync(40);
    for (let i = 0; i < 3; i++) {
      link.respond('7F 31 78'); // requestCorrectlyReceivedResponsePending
      await clock.advanceAsync(5000); // just under P2*client = 5010 ms
      assert.equal(p.result(), undefined, `still pending after 0x78 #${i + 1}`);
    }
    link.respond('71 01 FF 00 00');
    await flush();
    const r = p.result();
    assert.ok(r?.ok === true && r.value?.kind === 'positive' && r.value.service === 'RoutineControl');
  });

  it('times out after P2*client when the final response never comes', async () => {
    const { clock, link, client } = setup();
    const p = settle(client.request(Uint8Array.of(0x37)));
    await flush();
    link.respond('7F 37 78');
    await clock.advanceAsync(5009);
    assert.equal(p.result(), undefined);
    await clock.advanceAsync(1);
    assert.equal(errorOf(p.result()).code, 'UDS_TIMEOUT');
  });

  it('takes P2/P2* from the session control response', async () => {
    const { clock, link, client } = setup();
    const p = client.session(0x03);
    await flush();
    link.respond('50 03 00 14 00 64'); // P2server_max 20 ms, P2*server_max 100 × 10 ms
    await p;
    assert.deepEqual(client.timing, { p2ClientMs: 30, p2StarClientMs: 1010 });
    const q = settle(client.request(Uint8Array.of(0x22, 0xf1, 0x86)));
    await clock.advanceAsync(30);
    assert.equal(errorOf(q.result()).code, 'UDS_TIMEOUT');
    await client.close();
  });

  it('sends the requests one at a time, in call order', async () => {
    const { link, client } = setup();
    const a = client.request(Uint8Array.of(0x22, 0xf1, 0x90));
    const b = client.request(Uint8Array.of(0x22, 0xf1, 0x8c));
    await flush();
    assert.equal(link.sent.length, 1, 'the second request waits for the first response');
    link.respond('62 F1 90 56');
    await a;
    await flush();
    assert.equal(link.sent.length, 2);
    assert.equal(hex(link.sent[1] as Uint8Array), '22f18c');
    link.respond('62 F1 8C 53');
    await b;
  });

  it('rejects a response of its service that does not decode with the decoder code', async () => {
    const { link, client } = setup();
    const p = settle(client.request(Uint8Array.of(0x27, 0x11)));
    await flush();
    link.respond('67 11'); // requestSeed answer without a seed
    await flush();
    const e = errorOf(p.result());
    assert.ok(e instanceof DecodeError);
    assert.equal(e.code, 'UDS_LENGTH');
  });

  it('passes a link failure through (and the queue goes on)', async () => {
    const { link, client } = setup();
    link.failNextSend = new OtaError('DOIP_SOCKET_CLOSED', 'gone');
    await assert.rejects(client.request(Uint8Array.of(0x3e, 0x00)), { code: 'DOIP_SOCKET_CLOSED' });
    const p = client.request(Uint8Array.of(0x3e, 0x00));
    await flush();
    link.respond('7E 00');
    assert.equal((await p)?.kind, 'positive');
  });

  it('refuses an empty request with UDS_EMPTY', async () => {
    const { client } = setup();
    await assert.rejects(client.request(new Uint8Array(0)), { code: 'UDS_EMPTY' });
  });
});

describe('UdsClient suppressed positive response', () => {
  it('resolves undefined after P2client without an answer', async () => {
    const { clock, client } = setup();
    const p = settle(client.request(Uint8Array.of(0x85, 0x82))); // ControlDTCSetting off, SPR
    await clock.advanceAsync(59);
    assert.equal(p.result(), undefined);
    await clock.advanceAsync(1);
    assert.deepEqual(p.result(), { ok: true, value: undefined });
  });

  it('still rejects a negative response that comes within the wait', async () => {
    const { clock, link, client } = setup();
    const p = settle(client.request(Uint8Array.of(0x85, 0x82)));
    await clock.advanceAsync(10);
    link.respond('7F 85 22');
    await flush();
    assert.equal(errorOf(p.result()).wireCode, 0x22);
  });

  it('resolves as soon as the request is sent with suppressWaitMs 0', async () => {
    const { client } = setup();
    assert.equal(await client.request(Uint8Array.of(0x3e, 0x80), { suppressWaitMs: 0 }), undefined);
  });

  it('waits for the final response after 0x78 even with the positive response suppressed', async () => {
    const { clock, link, client } = setup();
    const p = settle(client.request(Uint8Array.of(0x31, 0x81, 0x02, 0x02)));
    await clock.advanceAsync(20);
    link.respond('7F 31 78');
    await clock.advanceAsync(1000);
    link.respond('71 01 02 02 00');
    await flush();
    const r = p.result();
    assert.ok(r?.ok === true && r.value?.kind === 'positive');
  });
});

describe('UdsClient keep-alive', () => {
  async function inExtendedSession(): Promise<ReturnType<typeof setup>> {
    const s = setup();
    const p = s.client.session(0x03);
    await flush();
    s.link.respond('50 03 00 32 01 F4');
    await p;
    return s;
  }

  it('sends 3E 80 every 2 s of silence while a non-default session is active', async () => {
    const { clock, link, client } = await inExtendedSession();
    await clock.advanceAsync(1999);
    assert.equal(link.sent.length, 1);
    await clock.advanceAsync(1);
    assert.equal(hex(link.sent[1] as Uint8Array), '3e80');
    await clock.advanceAsync(2000);
    assert.equal(hex(link.sent[2] as Uint8Array), '3e80');
    assert.equal(client.keepAliveCount, 2);
    await client.close();
  });

  it('restarts the idle period after every request instead of interleaving with it', async () => {
    const { clock, link, client } = await inExtendedSession();
    await clock.advanceAsync(1500);
    const p = client.request(Uint8Array.of(0x22, 0xf1, 0x86));
    await clock.advanceAsync(40);
    link.respond('62 F1 86 03');
    await p;
    await clock.advanceAsync(1999);
    assert.deepEqual(link.sent.map(hex), ['1003', '22f186']);
    await clock.advanceAsync(1);
    assert.equal(hex(link.sent[2] as Uint8Array), '3e80');
    await client.close();
  });

  it('stops when the default session is entered', async () => {
    const { clock, link, client } = await inExtendedSession();
    const p = client.session(0x01);
    await flush();
    link.respond('50 01 00 32 01 F4');
    await p;
    await clock.advanceAsync(10_000);
    assert.equal(link.sent.filter((b) => b[0] === 0x3e).length, 0);
  });

  it('stops after an ECU reset (the ECU restarts in the default session)', async () => {
    const { clock, link, client } = await inExtendedSession();
    const p = client.reset(0x01);
    await flush();
    link.respond('51 01');
    await p;
    assert.equal(client.activeSession, 0x01);
    await clock.advanceAsync(10_000);
    assert.equal(link.sent.filter((b) => b[0] === 0x3e).length, 0);
  });

  it('stops on close, and close rejects the pending request with UDS_CLIENT_CLOSED', async () => {
    const { clock, link, client } = await inExtendedSession();
    const p = settle(client.request(Uint8Array.of(0x22, 0xf1, 0x90)));
    await flush();
    await client.close();
    await flush();
    assert.equal(errorOf(p.result()).code, 'UDS_CLIENT_CLOSED');
    assert.equal(link.closed, true);
    await clock.advanceAsync(10_000);
    assert.equal(link.sent.filter((b) => b[0] === 0x3e).length, 0);
    assert.equal(clock.pendingTimers, 0);
    await assert.rejects(client.request(Uint8Array.of(0x3e, 0x00)), { code: 'UDS_CLIENT_CLOSED' });
  });
});

describe('UdsClient convenience methods', () => {
  it('unlock: 27 11 → seed, 27 12 with HMAC-SHA256(secret, seed) truncated to 16 bytes', async () => {
    const { link, client } = setup();
    const secret = Uint8Array.from(Buffer.alloc(32, 1));
    const seed = Uint8Array.from(Buffer.alloc(16, 0xa5));
    const p = client.unlock(0x11, secret);
    await flush();
    assert.equal(hex(link.sent[0] as Uint8Array), '2711');
    link.respond(Uint8Array.from([0x67, 0x11, ...seed]));
    await flush();
    assert.equal(hex(link.sent[1] as Uint8Array), '2712' + hex(computeKey(secret, seed)));
    link.respond('67 12');
    await p;
  });

  it('unlock: an all-zero seed means already unlocked, so no key is sent', async () => {
    const { link, client } = setup();
    const p = client.unlock(0x11, new Uint8Array(32));
    await flush();
    link.respond(Uint8Array.from([0x67, 0x11, ...new Uint8Array(16)]));
    await p;
    assert.equal(link.sent.length, 1);
  });

  const cases: Array<[string, (c: UdsClient) => Promise<unknown>, string, string, unknown]> = [
    ['readDid', (c) => c.readDid(0xf189), '22f189', '62 F1 89 31 2E 30', Uint8Array.of(0x31, 0x2e, 0x30)],
    ['writeDid', (c) => c.writeDid(0xf198, Uint8Array.of(1, 2)), '2ef1980102', '6E F1 98', undefined],
    ['readDtc', (c) => c.readDtc(0x09), '190209', '59 02 FF 00 01 00 09', { statusAvailabilityMask: 0xff, dtcs: [{ dtc: 0x000100, status: 0x09 }] }],
    ['clearDtc', (c) => c.clearDtc(), '14ffffff', '54', undefined],
    ['reset', (c) => c.reset(0x01), '1101', '51 01', { kind: 'positive', service: 'ECUReset', resetType: 1 }],
    ['routine', (c) => c.routine(0x01, 0x0202), '31010202', '71 01 02 02 AB', Uint8Array.of(0xab)],
  ];
  for (const [name, call, request, response, expected] of cases) {
    it(`${name} sends ${request} and returns the response's content`, async () => {
      const { link, client } = setup();
      const p = call(client);
      await flush();
      assert.equal(hex(link.sent[0] as Uint8Array), request);
      link.respond(response);
      assert.deepEqual(await p, expected);
    });
  }

  it('readDid refuses an answer for another DID with UDS_UNEXPECTED_RESPONSE', async () => {
    const { link, client } = setup();
    const p = settle(client.readDid(0xf189));
    await flush();
    link.respond('62 F1 90 41');
    await flush();
    assert.equal(errorOf(p.result()).code, 'UDS_UNEXPECTED_RESPONSE');
  });
});
