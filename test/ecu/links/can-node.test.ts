// The ECU's CAN node and the gateway's ISO-TP link on one virtual CAN bus: physical and functional requests,
// multi-frame requests and responses, 0x78 pending forwarding, two ECUs side by side, and the bus timing model.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bindCanNode, ECU_CAN_IDS } from '../../../src/ecu/links/can-node.js';
import { createVirtualEcu } from '../../../src/ecu/server/index.js';
import { createIsoTpLink, type IsoTpLink } from '../../../src/gateway/links/isotp-link.js';
import { VirtualCanBus } from '../../../src/protocol/can/index.js';
import { FakeClock } from '../../../src/protocol/clock.js';
import type { UdsRequestHandler, UdsRequestMeta } from '../../../src/protocol/uds/ports.js';
import { echoHandler, pendingHandler } from './doip-helpers.js';

/** Records every request with its metadata, then answers like `inner`. */
function recording(inner: UdsRequestHandler): UdsRequestHandler & { seen: Array<{ request: number[]; meta: UdsRequestMeta }> } {
  const seen: Array<{ request: number[]; meta: UdsRequestMeta }> = [];
  return {
    seen,
    handle: (request, respond, meta) => {
      seen.push({ request: [...request], meta });
      return inner.handle(request, respond, meta);
    },
  };
}

/** Resolves with the next `count` responses of `link`, or rejects after `timeoutMs` of real time. */
function collect(link: IsoTpLink, count: number, timeoutMs = 2_000): Promise<number[][]> {
  return new Promise((resolve, reject) => {
    const seen: number[][] = [];
    const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${count} responses`)), timeoutMs);
    const off = link.onResponse((r) => {
      seen.push([...r]);
      if (seen.length === count) {
        clearTimeout(timer);
        off();
        resolve(seen);
      }
    });
  });
}

function setup(handler: UdsRequestHandler = echoHandler) {
  const bus = new VirtualCanBus();
  const node = bindCanNode(bus.attach('engine'), handler, ECU_CAN_IDS.engine);
  const link = createIsoTpLink(bus.attach('tester'), ECU_CAN_IDS.engine);
  return { bus, node, link, close: async () => (node.close(), await link.close()) };
}

describe('bindCanNode + createIsoTpLink', () => {
  it('serves a physical single-frame request on 0x7E0 and answers on 0x7E8', async () => {
    const handler = recording(echoHandler);
    const { bus, link, close } = setup(handler);
    const ids: number[] = [];
    bus.onTrace((t) => ids.push(t.frame.id));
    const responses = collect(link, 1);
    await link.send(Uint8Array.of(0x22, 0xf1, 0x80));
    assert.deepEqual(await responses, [[0x62, 0xf1, 0x80]]);
    assert.deepEqual(handler.seen, [{ request: [0x22, 0xf1, 0x80], meta: { functional: false } }]);
    assert.deepEqual(ids, [0x7e0, 0x7e8]);
    await close();
  });

  it('carries a multi-frame request and a multi-frame response (FF, FC, CFs both ways)', async () => {
    const { link, close } = setup();
    const request = Uint8Array.from({ length: 300 }, (_, i) => (i === 0 ? 0x36 : i & 0xff));
    const responses = collect(link, 1);
    await link.send(request);
    const [response] = await responses;
    assert.equal(response?.length, 300);
    assert.equal(response?.[0], 0x76);
    assert.deepEqual(response?.slice(1), [...request.subarray(1)]);
    await close();
  });

  it('delivers a functional request (0x7DF, single frame) with meta.functional and answers on 0x7E8', async () => {
    const handler = recording(echoHandler);
    const { bus, link, close } = setup(handler);
    const ids: number[] = [];
    bus.onTrace((t) => ids.push(t.frame.id));
    const responses = collect(link, 1);
    await link.sendFunctional(Uint8Array.of(0x3e, 0x00));
    assert.deepEqual(await responses, [[0x7e, 0x00]]);
    assert.deepEqual(handler.seen, [{ request: [0x3e, 0x00], meta: { functional: true } }]);
    assert.deepEqual(ids, [0x7df, 0x7e8]);
    await close();
  });

  it('refuses to send a multi-frame functional request (ISOTP_FUNCTIONAL_MULTI_FRAME)', async () => {
    const { link, close } = setup();
    await assert.rejects(link.sendFunctional(new Uint8Array(20).fill(0x31)), { code: 'ISOTP_FUNCTIONAL_MULTI_FRAME' });
    await close();
  });

  it('ignores a first frame on the functional id: functional requests are single frames only', async () => {
    const handler = recording(echoHandler);
    const { bus, close } = setup(handler);
    const raw = bus.attach('rogue');
    await raw.send({ id: 0x7df, data: Uint8Array.of(0x10, 0x14, 0x36, 0x01, 0x02, 0x03, 0x04, 0x05) });
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(handler.seen, []);
    await close();
  });

  it('forwards 0x78 response-pending messages before the final response', async () => {
    const { link, close } = setup(pendingHandler(2));
    const responses = collect(link, 3);
    await link.send(Uint8Array.of(0x31, 0x01, 0xff, 0x00));
    assert.deepEqual(await responses, [[0x7f, 0x31, 0x78], [0x7f, 0x31, 0x78], [0x71, 0x01, 0xff, 0x00]]);
    await close();
  });

  it('keeps two ECUs apart on one bus; a functional request reaches both', async () => {
    const bus = new VirtualCanBus();
    const engine = recording(echoHandler);
    const body = recording(echoHandler);
    const engineNode = bindCanNode(bus.attach('engine'), engine, ECU_CAN_IDS.engine);
    const bodyNode = bindCanNode(bus.attach('body'), body, ECU_CAN_IDS.body);
    const tester = bus.attach('tester');
    const toEngine = createIsoTpLink(tester, ECU_CAN_IDS.engine);
    const toBody = createIsoTpLink(tester, ECU_CAN_IDS.body);
    const fromBody = collect(toBody, 2);
    const fromEngine = collect(toEngine, 1);
    await toBody.send(Uint8Array.of(0x22, 0xf1, 0x90));
    await toEngine.sendFunctional(Uint8Array.of(0x3e, 0x00));
    assert.deepEqual(await fromEngine, [[0x7e, 0x00]]);
    assert.deepEqual(await fromBody, [[0x62, 0xf1, 0x90], [0x7e, 0x00]]);
    assert.deepEqual(engine.seen.map((s) => s.request), [[0x3e, 0x00]]);
    assert.deepEqual(body.seen.map((s) => s.meta.functional), [false, true]);
    engineNode.close();
    bodyNode.close();
    await toEngine.close();
    await toBody.close();
  });

  it('answers 7F SID 10 when the handler throws', async () => {
    const { link, close } = setup({ handle: () => Promise.reject(new Error('fault')) });
    const responses = collect(link, 1);
    await link.send(Uint8Array.of(0x22, 0xf1, 0x80));
    assert.deepEqual(await responses, [[0x7f, 0x22, 0x10]]);
    await close();
  });

  it('stops answering once closed', async () => {
    const handler = recording(echoHandler);
    const { node, link, close } = setup(handler);
    node.close();
    await link.send(Uint8Array.of(0x3e, 0x00));
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(handler.seen, []);
    await close();
  });

  it('runs on the bit-timed bus with a fake clock: 102-byte response = FF + FC + 14 CFs after the SF request', async () => {
    const clock = new FakeClock();
    const bus = new VirtualCanBus({ clock, timing: { bitRate: 500_000 } });
    const response = Uint8Array.from({ length: 102 }, (_, i) => (i === 0 ? 0x62 : i));
    const node = bindCanNode(bus.attach('engine'), { handle: async (_req, respond) => respond(response) }, { ...ECU_CAN_IDS.engine, clock });
    const link = createIsoTpLink(bus.attach('tester'), { ...ECU_CAN_IDS.engine, clock });
    const received: Uint8Array[] = [];
    link.onResponse((r) => received.push(r));
    const sent = link.send(Uint8Array.of(0x22, 0xf1, 0x80));
    await clock.runAll(1_000);
    await sent;
    assert.equal(received.length, 1);
    assert.deepEqual([...(received[0] ?? [])], [...response]);
    assert.equal(bus.stats.frames, 17);
    // Classic CAN at 500 kbit/s: each 8-byte frame is ≥ 111 bits (222 µs) before stuffing.
    assert.ok(clock.now() >= 17 * 0.2, `bus time ${clock.now()} ms`);
    node.close();
    await link.close();
  });

  it('binds the real virtual ECU: 22 F1 80 answers, a functional 3E 80 stays silent', async () => {
    const ecu = createVirtualEcu();
    const { link, close } = setup(ecu.handler);
    try {
      const responses: number[][] = [];
      link.onResponse((r) => responses.push([...r]));
      await link.sendFunctional(Uint8Array.of(0x3e, 0x80)); // suppressPosRspMsgIndicationBit: no response
      const answer = collect(link, 1);
      await link.send(Uint8Array.of(0x22, 0xf1, 0x80));
      const [response] = await answer;
      assert.deepEqual(response?.slice(0, 3), [0x62, 0xf1, 0x80]);
      assert.equal(responses.length, 1);
    } finally {
      await close();
      ecu.close();
    }
  });
});
