// The gateway's small parts on their own: backoff, identification text and mode inference, the ECU
// queue (order, GW_BUSY, verbatim pass-through), and the reconnecting link.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { systemClock } from '../../src/protocol/clock.js';
import { OtaError } from '../../src/protocol/errors.js';
import { NRC, UdsNegativeError } from '../../src/protocol/uds/index.js';
import type { UdsLink } from '../../src/protocol/uds/ports.js';
import { backoffDelay, checkBackoff, createLazyLink, EcuPort, identificationText, inferMode } from '../../src/gateway/index.js';
import { fakeEcu, HandlerLink } from './harness.js';

describe('backoffDelay', () => {
  const policy = checkBackoff({ initialMs: 100, maxMs: 5000, factor: 2, jitter: 0.2 });

  it('doubles from the initial delay up to the ceiling (no jitter at random = 0.5)', () => {
    assert.deepEqual([0, 1, 2, 3, 6, 7, 100].map((n) => backoffDelay(policy, n, () => 0.5)), [100, 200, 400, 800, 5000, 5000, 5000]);
  });

  it('stays within ±jitter of the base, at least 1 ms, at most the ceiling', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (attempt, r) => {
        const d = backoffDelay(policy, attempt, () => r);
        const base = Math.min(5000, 100 * 2 ** Math.min(attempt, 64));
        return d >= 1 && d <= 5000 && d >= Math.floor(base * 0.8) && d <= Math.ceil(base * 1.2);
      }),
      { numRuns: 10_000 },
    );
  });

  it('refuses policies that would spin or never grow', () => {
    for (const bad of [{ initialMs: 0 }, { maxMs: 50 }, { factor: 0.5 }, { jitter: 2 }]) {
      assert.throws(() => checkBackoff({ initialMs: 100, maxMs: 5000, factor: 2, jitter: 0.2, ...bad }), RangeError);
    }
  });
});

describe('identificationText', () => {
  it('returns printable ASCII without padding, else hex', () => {
    assert.equal(identificationText(Buffer.from('1.2.3\0\0  ')), '1.2.3');
    assert.equal(identificationText(Uint8Array.of(0x41, 0xff, 0xff)), 'A');
    assert.equal(identificationText(Uint8Array.of(0x01, 0x02)), '0x0102');
  });
});

describe('inferMode', () => {
  const nrc31 = { error: new UdsNegativeError(NRC.requestOutOfRange) };
  it('trusts the boot-state DID FD00, then a readable F189, then F189 requestOutOfRange → bootloader', () => {
    assert.equal(inferMode({ data: Uint8Array.of(0x01, 0x10) }, { data: Buffer.from('1.0') }), 'bootloader');
    assert.equal(inferMode({ data: Uint8Array.of(0x02, 0x00) }, nrc31), 'application');
    assert.equal(inferMode(nrc31, { data: Buffer.from('1.0') }), 'application');
    assert.equal(inferMode(nrc31, nrc31), 'bootloader');
    assert.equal(inferMode({ data: Uint8Array.of(0x07) }, { error: new UdsNegativeError(NRC.securityAccessDenied) }), 'unknown');
  });
});

describe('EcuPort', () => {
  it('answers GW_BUSY beyond the queue limit and serves the rest in order', async () => {
    const link = new HandlerLink(fakeEcu());
    const port = new EcuPort({ name: 'engine', link: 'can', address: '0x7E0', uds: link }, systemClock, 1, { marginMs: 1000 });
    const results = await Promise.all([port.diagnose(Buffer.from('31011234', 'hex'), 2000), port.diagnose(Buffer.from('22F189', 'hex'), 2000), port.diagnose(Buffer.from('22F18C', 'hex'), 2000)]);
    assert.equal('response' in results[0]! && results[0].pending, 1);
    assert.ok('response' in results[1]!);
    assert.equal('error' in results[2]! && results[2].error.code, 'GW_BUSY');
    assert.deepEqual(link.requests, ['31011234', '22F189']);
    await port.close();
  });

  it('drops a request whose deadline passes while it is still queued (GW_BUSY), never sending it late', async () => {
    const link = new HandlerLink(fakeEcu());
    const port = new EcuPort({ name: 'engine', link: 'can', address: '0x7E0', uds: link }, systemClock, 4, { marginMs: 1000 });
    const slow = port.diagnose(Buffer.from('31011234', 'hex'), 2000);
    const late = await port.diagnose(Buffer.from('22F189', 'hex'), 40);
    assert.equal('error' in late && late.error.code, 'GW_BUSY');
    assert.ok(late.elapsedMs >= 40);
    assert.ok('response' in (await slow));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(link.requests, ['31011234']);
    await port.close();
  });

  it('passes a final response through verbatim even when it does not decode', async () => {
    const link = new HandlerLink({ handle: async (_req, respond) => respond(Uint8Array.of(0x62, 0xf1)) });
    const port = new EcuPort({ name: 'engine', link: 'can', address: '0x7E0', uds: link }, systemClock, 4, {});
    const out = await port.diagnose(Buffer.from('22F189', 'hex'), 1000);
    assert.ok('response' in out && out.response !== null);
    assert.equal(Buffer.from(out.response).toString('hex'), '62f1');
    await port.close();
  });

  it('reports GW_CLOSED after close', async () => {
    const port = new EcuPort({ name: 'engine', link: 'can', address: '0x7E0', uds: new HandlerLink(fakeEcu()) }, systemClock, 4, {});
    await port.close();
    const out = await port.diagnose(Buffer.from('22F189', 'hex'), 1000);
    assert.equal('error' in out && out.error.code, 'GW_CLOSED');
  });
});

describe('createLazyLink', () => {
  function fakeLink(fail?: OtaError): UdsLink & { emit(r: Uint8Array): void; closed: boolean } {
    const listeners = new Set<(r: Uint8Array) => void>();
    return {
      closed: false,
      send: () => (fail ? Promise.reject(fail) : Promise.resolve()),
      onResponse: (l) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      close() {
        this.closed = true;
        return Promise.resolve();
      },
      emit: (r) => listeners.forEach((l) => l(r)),
    };
  }

  it('opens on first send, reopens after a dead-link error or a down signal, and keeps listeners', async () => {
    const opened: Array<ReturnType<typeof fakeLink>> = [];
    let down: (() => void) | undefined;
    let failNext = true;
    const lazy = createLazyLink(async () => {
      const l = fakeLink(failNext ? new OtaError('DOIP_CONNECTION_CLOSED', 'gone') : undefined);
      failNext = false;
      opened.push(l);
      return { link: l, onDown: (cb) => (down = cb) };
    });
    const got: string[] = [];
    lazy.onResponse((r) => got.push(Buffer.from(r).toString('hex')));
    assert.equal(opened.length, 0);
    await assert.rejects(lazy.send(Uint8Array.of(0x22)), (e: unknown) => e instanceof OtaError && e.code === 'DOIP_CONNECTION_CLOSED');
    await new Promise((r) => setImmediate(r));
    assert.equal(opened[0]?.closed, true);
    await lazy.send(Uint8Array.of(0x22));
    assert.equal(opened.length, 2);
    opened[1]?.emit(Uint8Array.of(0x62));
    down?.();
    await new Promise((r) => setImmediate(r));
    await lazy.send(Uint8Array.of(0x22));
    assert.equal(opened.length, 3);
    opened[2]?.emit(Uint8Array.of(0x7f));
    assert.deepEqual(got, ['62', '7f']);
    await lazy.close();
    assert.equal(opened[2]?.closed, true);
  });

  it('keeps the link after an error that is not a link failure (a UDS timeout)', async () => {
    let opens = 0;
    const lazy = createLazyLink(async () => {
      opens++;
      return { link: fakeLink(opens === 1 ? new OtaError('UDS_TIMEOUT', 'slow') : undefined) };
    });
    await assert.rejects(lazy.send(Uint8Array.of(0x22)));
    await assert.rejects(lazy.send(Uint8Array.of(0x22)));
    assert.equal(opens, 1);
    await lazy.close();
  });
});
