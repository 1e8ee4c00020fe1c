import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../src/protocol/clock.js';
import { parseHex } from '../../../src/protocol/hex.js';
import { encodeFrame, type FlowControlFrame } from '../../../src/protocol/isotp/frame.js';
import { IsoTpTransport } from '../../../src/protocol/isotp/transport.js';
import { range, rig, settle } from './helpers.js';

/** UDS ReadDataByIdentifier 0xF190 (VIN). */
const vinRequest = Uint8Array.of(0x22, 0xf1, 0x90);

const fc = (status: FlowControlFrame['status'], blockSize = 0, stMin = 0) =>
  encodeFrame({ type: 'FC', status, blockSize, stMin });

describe('IsoTpTransport › errors', () => {
  describe('timeouts (§9.8.2) on the fake clock', () => {
    it('N_Bs: no FC after the FF → ISOTP_TIMEOUT_N_BS after exactly 1000 ms', async () => {
      const { clock, tester } = rig({ tester: { rxId: 0x7e9 } }); // nobody answers on 0x7E9
      const sent = settle(tester.send(range(20)), clock);
      await clock.advanceAsync(999.999);
      await clock.runAll();
      assert.deepEqual(await sent, { result: 'ISOTP_TIMEOUT_N_BS', at: 1000 });
    });

    it('N_Bs: no FC after a block → ISOTP_TIMEOUT_N_BS (configurable, here 250 ms)', async () => {
      const { clock, bus, tester } = rig({ tester: { rxId: 0x7e9, timeouts: { nBs: 250 } } });
      const peer = bus.attach('peer');
      let answered = false;
      peer.onFrame((f) => {
        if (f.id === 0x7e0 && !answered) {
          answered = true;
          void peer.send({ id: 0x7e9, data: fc('CTS', 2) }); // one block of two CFs, then silence
        }
      });
      const sent = settle(tester.send(range(40)), clock);
      await clock.runAll();
      assert.deepEqual(await sent, { result: 'ISOTP_TIMEOUT_N_BS', at: 250 });
    });

    it('N_Cr: a FF and then silence → the receiver aborts with ISOTP_TIMEOUT_N_CR 1000 ms after its FC', async () => {
      const { clock, bus, ecu, errors } = rig();
      const waiting = settle(ecu.receive(), clock);
      const peer = bus.attach('peer');
      await peer.send({ id: 0x7e0, data: parseHex('10 14 00 01 02 03 04 05') });
      await clock.advanceAsync(999);
      assert.deepEqual(errors.ecu, []);
      await clock.advanceAsync(1);
      assert.deepEqual(errors.ecu, ['aborted:ISOTP_TIMEOUT_N_CR']);
      assert.deepEqual(await waiting, { result: 'ISOTP_TIMEOUT_N_CR', at: 1000 });
    });

    it('N_Cr restarts at every CF', async () => {
      const { clock, bus, errors } = rig();
      const peer = bus.attach('peer');
      await peer.send({ id: 0x7e0, data: parseHex('10 14 00 01 02 03 04 05') });
      await clock.advanceAsync(900);
      await peer.send({ id: 0x7e0, data: parseHex('21 06 07 08 09 0A 0B 0C') });
      await clock.advanceAsync(900);
      assert.deepEqual(errors.ecu, []);
      await clock.advanceAsync(100);
      assert.deepEqual(errors.ecu, ['aborted:ISOTP_TIMEOUT_N_CR']);
      // A late CF is then unexpected and ignored.
      await peer.send({ id: 0x7e0, data: parseHex('22 0D 0E 0F 10 11 12 13') });
      assert.deepEqual(errors.ecu, ['aborted:ISOTP_TIMEOUT_N_CR', 'ignored:ISOTP_UNEXPECTED_PDU']);
    });

    it('N_As: a frame not on the bus within N_As → ISOTP_TIMEOUT_N_AS', async () => {
      // At 50 bit/s a padded 8-byte frame takes ≈ 2.3 s of bus time.
      const { clock, tester } = rig({ timing: { bitRate: 50 } });
      const sent = settle(tester.send(vinRequest), clock);
      await clock.runAll();
      assert.deepEqual(await sent, { result: 'ISOTP_TIMEOUT_N_AS', at: 1000 });
    });

    it('N_Ar: our FC not confirmed within N_Ar → the reception aborts with ISOTP_TIMEOUT_N_AR', async () => {
      const clock = new FakeClock();
      let deliver: (f: { id: number; data: Uint8Array }) => void = () => undefined;
      const stuck = {
        send: () => new Promise<void>(() => undefined), // the controller never confirms
        onFrame: (l: typeof deliver) => {
          deliver = l;
          return () => undefined;
        },
      };
      const ecu = new IsoTpTransport(stuck, { txId: 0x7e8, rxId: 0x7e0, clock, timeouts: { nAr: 70 } });
      const errors: string[] = [];
      ecu.onError((e, d) => errors.push(`${d}:${e.code}@${clock.now()}`));
      deliver({ id: 0x7e0, data: parseHex('10 14 00 01 02 03 04 05') });
      await clock.runAll();
      assert.deepEqual(errors, ['aborted:ISOTP_TIMEOUT_N_AR@70']);
    });
    it('each wait keeps its own deadline: a short N_Ar expires on time behind a pending long N_As', async () => {
      const clock = new FakeClock();
      let deliver: (f: { id: number; data: Uint8Array }) => void = () => undefined;
      const stuck = {
        send: () => new Promise<void>(() => undefined), // the controller never confirms
        onFrame: (l: typeof deliver) => {
          deliver = l;
          return () => undefined;
        },
      };
      const ecu = new IsoTpTransport(stuck, { txId: 0x7e8, rxId: 0x7e0, clock, timeouts: { nAs: 500, nAr: 70 } });
      const errors: string[] = [];
      ecu.onError((e, d) => errors.push(`${d}:${e.code}@${clock.now()}`));
      const sent = settle(ecu.send(vinRequest), clock); // N_As deadline 500
      await clock.advanceAsync(10);
      deliver({ id: 0x7e0, data: parseHex('10 14 00 01 02 03 04 05') }); // our FC: N_Ar deadline 80
      await clock.runAll();
      assert.deepEqual(errors, ['aborted:ISOTP_TIMEOUT_N_AR@80']);
      assert.deepEqual(await sent, { result: 'ISOTP_TIMEOUT_N_AS', at: 500 });
    });

    it('close() rejects a frame still awaiting its confirmation with ISOTP_CLOSED', async () => {
      const clock = new FakeClock();
      const stuck = { send: () => new Promise<void>(() => undefined), onFrame: () => () => undefined };
      const tester = new IsoTpTransport(stuck, { txId: 0x7e0, rxId: 0x7e8, clock });
      const sent = settle(tester.send(vinRequest), clock);
      await clock.advanceAsync(5);
      tester.close();
      assert.deepEqual(await sent, { result: 'ISOTP_CLOSED', at: 5 });
    });
  });

  describe('sequence numbers and unexpected PDUs', () => {
    it('aborts with ISOTP_WRONG_SN when a CF skips a sequence number (§9.6.4.3)', async () => {
      const { clock, bus, ecu, errors } = rig();
      const waiting = settle(ecu.receive(), clock);
      const peer = bus.attach('peer');
      await peer.send({ id: 0x7e0, data: parseHex('10 14 00 01 02 03 04 05') });
      await peer.send({ id: 0x7e0, data: parseHex('22 06 07 08 09 0A 0B 0C') });
      await clock.runAll();
      assert.deepEqual(errors.ecu, ['aborted:ISOTP_WRONG_SN']);
      assert.equal((await waiting).result, 'ISOTP_WRONG_SN');
      assert.equal(clock.pendingTimers, 0);
    });

    it('aborts a reception interrupted by a SF (ISOTP_UNEXPECTED_PDU) and delivers the SF (§9.8.3)', async () => {
      const { clock, bus, ecu, errors } = rig();
      const got: Uint8Array[] = [];
      ecu.onMessage((m) => got.push(m));
      const peer = bus.attach('peer');
      await peer.send({ id: 0x7e0, data: parseHex('10 14 00 01 02 03 04 05') });
      await peer.send({ id: 0x7e0, data: parseHex('02 3E 00') });
      await clock.runAll();
      assert.deepEqual(errors.ecu, ['aborted:ISOTP_UNEXPECTED_PDU']);
      assert.deepEqual(got, [Uint8Array.of(0x3e, 0x00)]);
    });

    it('ignores a FC while none is awaited, and a malformed frame, without disturbing a reception', async () => {
      const { clock, bus, ecu, errors } = rig();
      const got = ecu.receive();
      const peer = bus.attach('peer');
      await peer.send({ id: 0x7e0, data: parseHex('10 0A 00 01 02 03 04 05') });
      await peer.send({ id: 0x7e0, data: parseHex('30 00 00') });
      await peer.send({ id: 0x7e0, data: parseHex('00 00 00') });
      await peer.send({ id: 0x7e0, data: parseHex('21 06 07 08 09') });
      await clock.runAll();
      assert.deepEqual(await got, range(10));
      assert.deepEqual(errors.ecu, ['ignored:ISOTP_UNEXPECTED_PDU', 'ignored:ISOTP_SF_DL']);
    });

    it('aborts a transmission whose FC has a reserved flow status (N_INVALID_FS → ISOTP_FC_STATUS)', async () => {
      const { clock, bus, tester } = rig({ tester: { rxId: 0x7e9 } });
      const peer = bus.attach('peer');
      peer.onFrame((f) => {
        if (f.id === 0x7e0) void peer.send({ id: 0x7e9, data: parseHex('35 00 00') });
      });
      const sent = settle(tester.send(range(20)), clock);
      await clock.runAll();
      assert.equal((await sent).result, 'ISOTP_FC_STATUS');
    });

    it('treats a reserved STmin in the FC as 127 ms (§9.6.5.4)', async () => {
      const { clock, bus, tester, trace } = rig({ tester: { rxId: 0x7e9 } });
      const peer = bus.attach('peer');
      peer.onFrame((f) => {
        if (f.id === 0x7e0 && (f.data[0] as number) >> 4 === 1) void peer.send({ id: 0x7e9, data: parseHex('30 00 FA') });
      });
      await Promise.all([tester.send(range(20)), clock.runAll()]);
      const cfTimes = trace.filter((e) => (e.frame.data[0] as number) >> 4 === 2).map((e) => e.time);
      assert.deepEqual(cfTimes, [0, 127]);
    });
  });

  describe('functional addressing (0x7DF, single frames only)', () => {
    it('delivers a functional SF marked functional, to every ECU listening on 0x7DF', async () => {
      const { clock, bus, tester, ecu } = rig();
      const body = new IsoTpTransport(bus.attach('body'), { txId: 0x7e9, rxId: 0x7e1, functionalRxId: 0x7df, clock });
      const seen: string[] = [];
      ecu.onMessage((m, info) => seen.push(`engine ${info.functional} ${m.length}`));
      body.onMessage((m, info) => seen.push(`body ${info.functional} ${m.length}`));
      await Promise.all([tester.send(Uint8Array.of(0x3e, 0x80), { functional: true }), clock.runAll()]);
      assert.deepEqual(seen.sort(), ['body true 2', 'engine true 2']);
    });

    it('refuses to send a multi-frame message functionally (ISOTP_FUNCTIONAL_MULTI_FRAME)', async () => {
      const { clock, tester, trace } = rig();
      const sent = settle(tester.send(range(8), { functional: true }), clock);
      await clock.runAll();
      assert.equal((await sent).result, 'ISOTP_FUNCTIONAL_MULTI_FRAME');
      assert.equal(trace.length, 0);
    });

    it('ignores a FF received on the functional id and answers no FC', async () => {
      const { clock, bus, errors, trace } = rig();
      const peer = bus.attach('peer');
      await peer.send({ id: 0x7df, data: parseHex('10 14 00 01 02 03 04 05') });
      await clock.runAll();
      assert.deepEqual(errors.ecu, ['ignored:ISOTP_FUNCTIONAL_MULTI_FRAME']);
      assert.equal(trace.length, 1);
    });

    it('refuses functional sending without a functional id', async () => {
      const { clock, ecu } = rig();
      const sent = settle(ecu.send(Uint8Array.of(1), { functional: true }), clock);
      assert.equal((await sent).result, 'ISOTP_VALUE_RANGE');
    });
  });

  describe('receive and close', () => {
    it('queues messages that arrive before receive() is called', async () => {
      const { clock, tester, ecu } = rig();
      await Promise.all([tester.send(Uint8Array.of(1)), tester.send(Uint8Array.of(2)), clock.runAll()]);
      assert.deepEqual(await ecu.receive(), Uint8Array.of(1));
      assert.deepEqual(await ecu.receive(), Uint8Array.of(2));
    });

    it('rejects receive() after timeoutMs with ISOTP_TIMEOUT_RECEIVE', async () => {
      const { clock, ecu } = rig();
      const waiting = settle(ecu.receive({ timeoutMs: 50 }), clock);
      await clock.runAll();
      assert.deepEqual(await waiting, { result: 'ISOTP_TIMEOUT_RECEIVE', at: 50 });
    });

    it('rejects pending operations with ISOTP_CLOSED and stops all timers', async () => {
      const { clock, tester, ecu } = rig({ tester: { rxId: 0x7e9 } });
      const sending = settle(tester.send(range(20)), clock);
      const receiving = settle(ecu.receive(), clock);
      await clock.advanceAsync(10);
      tester.close();
      ecu.close();
      assert.equal((await sending).result, 'ISOTP_CLOSED');
      assert.equal((await receiving).result, 'ISOTP_CLOSED');
      assert.equal((await settle(tester.send(Uint8Array.of(1)), clock)).result, 'ISOTP_CLOSED');
      assert.equal(clock.pendingTimers, 0);
    });

    it('refuses an empty message (ISOTP_VALUE_RANGE) and bad options at construction', async () => {
      const { clock, tester, bus } = rig();
      assert.equal((await settle(tester.send(new Uint8Array(0)), clock)).result, 'ISOTP_VALUE_RANGE');
      assert.throws(() => new IsoTpTransport(bus.attach(), { txId: 1, rxId: 2, txDl: 10 }), { code: 'ISOTP_VALUE_RANGE' });
      assert.throws(() => new IsoTpTransport(bus.attach(), { txId: 1, rxId: 2, blockSize: 256 }), { code: 'ISOTP_VALUE_RANGE' });
      assert.throws(() => new IsoTpTransport(bus.attach(), { txId: 1, rxId: 2, stMinMs: 200 }), { code: 'ISOTP_VALUE_RANGE' });
    });
  });
});
