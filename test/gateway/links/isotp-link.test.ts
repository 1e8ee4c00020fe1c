// The gateway's ISO-TP link on its own, against a raw CAN node standing in for an ECU.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createIsoTpLink } from '../../../src/gateway/links/isotp-link.js';
import { VirtualCanBus, type CanFrame } from '../../../src/protocol/can/index.js';
import { FakeClock } from '../../../src/protocol/clock.js';
import type { OtaError } from '../../../src/protocol/errors.js';

describe('createIsoTpLink', () => {
  it('sends physical requests on the request id and functional ones on 0x7DF', async () => {
    const bus = new VirtualCanBus();
    const ecu = bus.attach('ecu');
    const frames: CanFrame[] = [];
    ecu.onFrame((f) => frames.push(f));
    const link = createIsoTpLink(bus.attach('tester'), { requestId: 0x7e1, responseId: 0x7e9 });
    await link.send(Uint8Array.of(0x22, 0xf1, 0x90));
    await link.sendFunctional(Uint8Array.of(0x3e, 0x80));
    assert.deepEqual(
      frames.map((f) => [f.id, ...f.data.subarray(0, 4)]),
      [
        [0x7e1, 0x03, 0x22, 0xf1, 0x90], // SF, length 3
        [0x7df, 0x02, 0x3e, 0x80, 0xcc], // SF, length 2, padded with 0xCC
      ],
    );
    await link.close();
  });

  it('refuses functional sends when configured without a functional id', async () => {
    const bus = new VirtualCanBus();
    const link = createIsoTpLink(bus.attach('tester'), { requestId: 0x7e0, responseId: 0x7e8, functionalId: null });
    await assert.rejects(link.sendFunctional(Uint8Array.of(0x3e, 0x00)), { code: 'ISOTP_VALUE_RANGE' });
    await link.close();
  });

  it('reports a response aborted by N_Cr to onError and delivers nothing', async () => {
    const clock = new FakeClock();
    const bus = new VirtualCanBus({ clock });
    const ecu = bus.attach('ecu');
    const link = createIsoTpLink(bus.attach('tester'), { requestId: 0x7e0, responseId: 0x7e8, clock, timeouts: { nCr: 50 } });
    const errors: string[] = [];
    const responses: Uint8Array[] = [];
    link.onError((e: OtaError, disposition) => errors.push(`${e.code}/${disposition}`));
    link.onResponse((r) => responses.push(r));
    // A first frame announcing 20 bytes, then silence: the tester's FC goes out, no CF ever follows.
    await ecu.send({ id: 0x7e8, data: Uint8Array.of(0x10, 0x14, 0x62, 0xf1, 0x90, 0x57, 0x4f, 0x54) });
    await clock.runAll(1_000);
    assert.deepEqual(errors, ['ISOTP_TIMEOUT_N_CR/aborted']);
    assert.deepEqual(responses, []);
    await link.close();
  });

  it('rejects sends after close with ISOTP_CLOSED', async () => {
    const bus = new VirtualCanBus();
    const link = createIsoTpLink(bus.attach('tester'), { requestId: 0x7e0, responseId: 0x7e8 });
    await link.close();
    await assert.rejects(link.send(Uint8Array.of(0x3e, 0x00)), { code: 'ISOTP_CLOSED' });
  });
});
