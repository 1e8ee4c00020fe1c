import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../src/protocol/clock.js';
import { parseHex } from '../../../src/protocol/hex.js';
import { canFrameTimeMs } from '../../../src/protocol/can/timing.js';
import { encodeFrame, type FlowControlFrame } from '../../../src/protocol/isotp/frame.js';
import { segmentMessage } from '../../../src/protocol/isotp/segment.js';
import { IsoTpTransport } from '../../../src/protocol/isotp/transport.js';
import { ascii, line, range, rig, settle } from './helpers.js';

/** UDS ReadDataByIdentifier 0xF190 and its 20-byte positive response carrying a 17-character VIN. */
const vinRequest = Uint8Array.of(0x22, 0xf1, 0x90);
const vinResponse = Uint8Array.of(0x62, 0xf1, 0x90, ...ascii('W0L000051T2123456'));

const fc = (status: FlowControlFrame['status'], blockSize = 0, stMin = 0) =>
  encodeFrame({ type: 'FC', status, blockSize, stMin });

describe('IsoTpTransport', () => {
  describe('tester ↔ ECU on a virtual bus', () => {
    it('carries a SF request and a segmented response exactly as an ISO 15765-2 trace shows them', async () => {
      const { clock, trace, tester, ecu, errors } = rig();
      ecu.onMessage((req) => {
        if (req[0] === 0x22) void ecu.send(vinResponse);
      });
      const response = tester.receive();
      await tester.send(vinRequest);
      await clock.runAll();
      assert.deepEqual(await response, vinResponse);
      assert.deepEqual(trace.map(line), [
        '7E0 03 22 F1 90 CC CC CC CC', // SF, SF_DL 3
        '7E8 10 14 62 F1 90 57 30 4C', // FF, FF_DL 20
        '7E0 30 00 00 CC CC CC CC CC', // FC CTS, BS 0, STmin 0
        '7E8 21 30 30 30 30 35 31 54', // CF SN 1
        '7E8 22 32 31 32 33 34 35 36', // CF SN 2
      ]);
      assert.deepEqual(errors, { tester: [], ecu: [] });
      assert.equal(clock.pendingTimers, 0);
    });

    it('with BS = 0 sends every CF after the one FC', async () => {
      const { clock, trace, tester, ecu } = rig();
      const got = ecu.receive();
      await tester.send(range(300));
      await clock.runAll();
      assert.deepEqual(await got, range(300));
      const fcs = trace.filter((e) => e.frame.id === 0x7e8);
      assert.deepEqual(fcs.map(line), ['7E8 30 00 00 CC CC CC CC CC']);
      assert.equal(trace.length, 1 + 1 + Math.ceil((300 - 6) / 7));
    });

    it('with BS = 2 waits for a FC CTS after every second CF (§9.6.5.3)', async () => {
      const { clock, trace, tester, ecu } = rig({ ecu: { blockSize: 2 } });
      const got = ecu.receive();
      await tester.send(range(100)); // FF + 14 CFs
      await clock.runAll();
      assert.deepEqual(await got, range(100));
      const kinds = trace.map((e) => (e.frame.id === 0x7e8 ? 'FC' : (e.frame.data[0] as number) >> 4 === 1 ? 'FF' : 'CF'));
      assert.deepEqual(kinds.join(' '), 'FF FC CF CF FC CF CF FC CF CF FC CF CF FC CF CF FC CF CF FC CF CF');
      assert.ok(trace.filter((e) => e.frame.id === 0x7e8).every((e) => line(e) === '7E8 30 02 00 CC CC CC CC CC'));
    });

    it('keeps STmin = 10 ms between CFs, the first CF of a block right after the FC (§9.6.5.4)', async () => {
      const { clock, trace, tester, ecu } = rig({ ecu: { blockSize: 3, stMinMs: 10 } });
      const got = ecu.receive();
      const sent = tester.send(range(50)); // FF + 7 CFs
      await clock.runAll();
      await sent;
      assert.deepEqual(await got, range(50));
      const times = trace.map((e) => `${(e.frame.data[0] as number) >> 4 === 3 ? 'FC' : 'xF'}@${e.time}`);
      assert.deepEqual(times, ['xF@0', 'FC@0', 'xF@0', 'xF@10', 'xF@20', 'FC@20', 'xF@20', 'xF@30', 'xF@40', 'FC@40', 'xF@40']);
    });

    it('honours a 500 µs STmin (0xF5) on top of the bus time of each CF', async () => {
      const { clock, trace, tester, ecu } = rig({ ecu: { stMinMs: 0.5 }, timing: { bitRate: 500_000 } });
      const got = ecu.receive();
      const sent = tester.send(range(40));
      await clock.runAll();
      await sent;
      assert.deepEqual(await got, range(40));
      assert.equal(line(trace[1]!), '7E8 30 00 F5 CC CC CC CC CC');
      const cfs = trace.slice(2);
      for (let i = 1; i < cfs.length; i++) {
        const gap = cfs[i]!.time - cfs[i - 1]!.time;
        assert.ok(Math.abs(gap - (0.5 + canFrameTimeMs(cfs[i]!.frame))) < 1e-9, `gap ${gap}`);
      }
      assert.ok(Math.abs(cfs[0]!.time - trace[1]!.time - canFrameTimeMs(cfs[0]!.frame)) < 1e-9);
    });

    it('carries a 5000-byte message with the 32-bit FF_DL escape', async () => {
      const { clock, trace, tester, ecu } = rig({ ecu: { blockSize: 8 } });
      const got = ecu.receive();
      await Promise.all([tester.send(range(5000)), clock.runAll()]);
      assert.deepEqual(await got, range(5000));
      assert.equal(line(trace[0]!), '7E0 10 00 00 00 13 88 00 01');
    });

    it('carries CAN FD frames with TX_DL 64', async () => {
      const { clock, trace, tester, ecu } = rig({ tester: { txDl: 64 }, ecu: { txDl: 64 } });
      const got = ecu.receive();
      await Promise.all([tester.send(range(1000)), clock.runAll()]);
      assert.deepEqual(await got, range(1000));
      const data = trace.filter((e) => e.frame.id === 0x7e0);
      assert.ok(data.every((e) => e.frame.fd === true));
      assert.deepEqual(data.slice(0, 2).map((e) => e.frame.data.length), [64, 64]);
      // 1000 = 62 + 14 × 63 + 56: the last CF carries 57 bytes → padded to CAN_DL 64
      assert.equal(data.length, 16);
    });

    it('sends and receives at the same time (full duplex)', async () => {
      const { clock, tester, ecu } = rig({ ecu: { blockSize: 1 }, tester: { blockSize: 2 } });
      const atEcu = ecu.receive();
      const atTester = tester.receive();
      await Promise.all([tester.send(range(200, 1)), ecu.send(range(150, 7)), clock.runAll()]);
      assert.deepEqual(await atEcu, range(200, 1));
      assert.deepEqual(await atTester, range(150, 7));
    });

    it('sends one message after another when send is called concurrently', async () => {
      const { clock, trace, tester, ecu } = rig();
      const got: Uint8Array[] = [];
      ecu.onMessage((m) => got.push(m));
      await Promise.all([tester.send(range(20, 0)), tester.send(range(20, 100)), tester.send(Uint8Array.of(1)), clock.runAll()]);
      assert.deepEqual(got, [range(20, 0), range(20, 100), Uint8Array.of(1)]);
      const firsts = trace.map((e) => (e.frame.data[0] as number) >> 4).join('');
      assert.equal(firsts, '1322' + '1322' + '0');
    });

    it('uses 29-bit ids when configured and ignores 11-bit frames with the same number', async () => {
      const { clock, bus } = rig();
      const a = new IsoTpTransport(bus.attach(), { txId: 0x18da10f1, rxId: 0x18daf110, extended: true, clock });
      const b = new IsoTpTransport(bus.attach(), { txId: 0x18daf110, rxId: 0x18da10f1, extended: true, clock });
      const got = b.receive();
      await Promise.all([a.send(range(30)), clock.runAll()]);
      assert.deepEqual(await got, range(30));
      const stray = bus.attach();
      const seen: Uint8Array[] = [];
      b.onMessage((m) => seen.push(m));
      await stray.send({ id: 0x18da10f1 & 0x7ff, data: parseHex('01 AA') });
      await clock.runAll();
      assert.deepEqual(seen, []);
    });
  });

  describe('flow control WAIT (§9.7, N_WFTmax)', () => {
    it('waits through FC WAIT frames, N_Bs restarting at each, then sends on CTS', async () => {
      const { clock, bus, tester, trace } = rig({ tester: { rxId: 0x7e9 } });
      const peer = bus.attach('peer');
      peer.onFrame((f) => {
        if (f.id !== 0x7e0 || (f.data[0] as number) >> 4 !== 1) return;
        // WAIT at 0, 900 and 1800 ms, CTS at 2700 ms: every gap is below N_Bs = 1000 ms.
        for (const [t, frame] of [
          [0, fc('WAIT')],
          [900, fc('WAIT')],
          [1800, fc('WAIT')],
          [2700, fc('CTS')],
        ] as const) {
          clock.setTimeout(() => void peer.send({ id: 0x7e9, data: frame }), t);
        }
      });
      const sent = settle(tester.send(range(20)), clock);
      await clock.runAll();
      assert.deepEqual(await sent, { result: 'ok', at: 2700 });
      assert.equal(trace.filter((e) => e.frame.id === 0x7e0).length, 3);
    });

    it('aborts with ISOTP_WFT_OVERRUN after more than N_WFTmax WAIT in a row', async () => {
      const { clock, bus, tester } = rig({ tester: { rxId: 0x7e9, maxWaitFrames: 2 } });
      const peer = bus.attach('peer');
      peer.onFrame((f) => {
        if (f.id === 0x7e0 && (f.data[0] as number) >> 4 === 1) {
          for (let i = 0; i < 3; i++) clock.setTimeout(() => void peer.send({ id: 0x7e9, data: fc('WAIT') }), i * 100);
        }
      });
      const sent = settle(tester.send(range(20)), clock);
      await clock.runAll();
      assert.deepEqual(await sent, { result: 'ISOTP_WFT_OVERRUN', at: 200 });
    });

    it('with N_WFTmax = 0 refuses the first WAIT', async () => {
      const { clock, bus, tester } = rig({ tester: { rxId: 0x7e9, maxWaitFrames: 0 } });
      const peer = bus.attach('peer');
      peer.onFrame((f) => {
        if (f.id === 0x7e0) void peer.send({ id: 0x7e9, data: fc('WAIT') });
      });
      const sent = settle(tester.send(range(20)), clock);
      await clock.runAll();
      assert.equal((await sent).result, 'ISOTP_WFT_OVERRUN');
    });
  });

  describe('overflow', () => {
    it('answers a FF above maxMessageLength with FC OVFLW; the sender aborts with ISOTP_OVERFLOW', async () => {
      const { clock, trace, tester, ecu, errors } = rig({ ecu: { maxMessageLength: 50 } });
      const waiting = settle(ecu.receive(), clock);
      const sent = settle(tester.send(range(51)), clock);
      await clock.runAll();
      assert.equal((await sent).result, 'ISOTP_OVERFLOW');
      assert.equal((await waiting).result, 'ISOTP_OVERFLOW');
      assert.deepEqual(trace.map(line), ['7E0 10 33 00 01 02 03 04 05', '7E8 32 00 00 CC CC CC CC CC']);
      assert.deepEqual(errors.ecu, ['aborted:ISOTP_OVERFLOW']);
    });

    it('accepts exactly maxMessageLength bytes', async () => {
      const { clock, tester, ecu } = rig({ ecu: { maxMessageLength: 50 } });
      const got = ecu.receive();
      await Promise.all([tester.send(range(50)), clock.runAll()]);
      assert.deepEqual(await got, range(50));
    });
  });



  describe('gateway with two ECUs (engine 0x7E0/0x7E8, body 0x7E1/0x7E9)', () => {
    it('routes physical requests to one ECU and collects both answers to a functional request', async () => {
      const { clock, bus, tester: engineLink, ecu: engine } = rig();
      const bodyLink = new IsoTpTransport(bus.attach('gw-body'), { txId: 0x7e1, rxId: 0x7e9, clock });
      const body = new IsoTpTransport(bus.attach('body'), { txId: 0x7e9, rxId: 0x7e1, functionalRxId: 0x7df, clock });
      const answer = (t: typeof engine, name: string) =>
        t.onMessage((req) => void t.send(Uint8Array.of(req[0]! + 0x40, ...ascii(name), ...range(20))));
      answer(engine, 'engine');
      answer(body, 'body');
      const engineAnswer = engineLink.receive();
      await Promise.all([engineLink.send(vinRequest), clock.runAll()]);
      assert.deepEqual((await engineAnswer).subarray(0, 7), Uint8Array.of(0x62, ...ascii('engine')));
      const both = Promise.all([engineLink.receive(), bodyLink.receive()]);
      await Promise.all([engineLink.send(Uint8Array.of(0x19, 0x02, 0xff), { functional: true }), clock.runAll()]);
      const [e, b] = await both;
      assert.deepEqual(e.subarray(0, 7), Uint8Array.of(0x59, ...ascii('engine')));
      assert.deepEqual(b.subarray(0, 5), Uint8Array.of(0x59, ...ascii('body')));
    });
  });

  describe('split and coalesced input', () => {
    it('reassembles the same message whether its frames arrive in one burst or spread out', async () => {
      const payload = range(600, 3);
      const frames = [...segmentMessage(payload)];
      for (const mode of ['coalesced', 'split'] as const) {
        const clock = new FakeClock();
        let deliver: (f: { id: number; data: Uint8Array }) => void = () => undefined;
        const sentFcs: string[] = [];
        const can = {
          send: (f: { data: Uint8Array }) => {
            sentFcs.push(Buffer.from(f.data).toString('hex'));
            return Promise.resolve();
          },
          onFrame: (l: typeof deliver) => {
            deliver = l;
            return () => undefined;
          },
        };
        const rx = new IsoTpTransport(can, { txId: 0x7e8, rxId: 0x7e0, clock, blockSize: 0 });
        const got = rx.receive();
        if (mode === 'coalesced') {
          for (const data of frames) deliver({ id: 0x7e0, data });
        } else {
          for (const data of frames) {
            deliver({ id: 0x7e0, data });
            await clock.advanceAsync(0.9);
          }
        }
        assert.deepEqual(await got, payload, mode);
        assert.deepEqual(sentFcs, ['300000cccccccccc'], mode);
      }
    });
  });

});
